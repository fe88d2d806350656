"""Find the user's function by import path and call it with the config's keyword args."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd

from daskrun.errors import USER_CODE_ERRORS, FunctionFailed, InvokeError, clip

log = logging.getLogger(__name__)


class FunctionNotFound(InvokeError):
    pass


class AttributeMissing(InvokeError):
    pass


class NotCallable(InvokeError):
    pass


class BadArguments(InvokeError):
    pass


class BadResult(FunctionFailed):
    """The function ran but did not return a DataFrame (or None)."""


def _q(text: str) -> str:
    """A name from the config, quoted short: a 100,000-character path made a 200 KB message."""
    return repr(clip(text, 200))


def _split(path: str) -> tuple[str, list[str]]:
    if ":" in path:
        module, _, attrs = path.partition(":")
        return module, attrs.split(".")
    module, _, attr = path.rpartition(".")
    return module, [attr]


def _import(module: str, path: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise FunctionNotFound(
                f"run.function {_q(path)}: module {_q(exc.name)} not found; install it with "
                "dask_cluster.worker_config.setup.pip_packages or git_repository, or fix the path"
            ) from None
        raise FunctionNotFound(
            f"run.function {_q(path)}: importing module {_q(module)} failed because its "
            f"dependency {_q(exc.name or '')} is missing; add it to setup.pip_packages"
        ) from exc
    except USER_CODE_ERRORS as exc:
        raise FunctionNotFound(
            f"run.function {_q(path)}: importing module {_q(module)} raised {type(exc).__name__}: {exc}"
        ) from exc


def _import_dotted(module_name: str, attrs: list[str], path: str) -> tuple[Any, str, list[str]]:
    """The module of a dotted path, and the attributes after it: 'pkg.mod.Class.method' is
    the attribute Class.method of pkg.mod when there is no module pkg.mod.Class."""
    try:
        return _import(module_name, path), module_name, attrs
    except FunctionNotFound as not_found:
        parts = module_name.split(".")
        missing = not_found.__cause__ is None and f"module {_q(module_name)} not found" in str(not_found)
        for cut in range(len(parts) - 1, 0, -1) if missing else ():
            prefix = ".".join(parts[:cut])
            try:
                module = importlib.import_module(prefix)
            except ImportError:
                continue
            except USER_CODE_ERRORS:
                break
            if hasattr(module, parts[cut]):
                return module, prefix, parts[cut:] + attrs
            # Neither a module nor an attribute: name what is there.
            raise AttributeMissing(
                f"run.function {_q(path)}: there is no module {_q(module_name)}, and module {_q(prefix)} "
                f"has no attribute {_q(parts[cut])}{_suggest(parts[cut], module)}"
            ) from None
        raise


def resolve(path: str) -> Callable[..., Any]:
    """The callable named by 'pkg.module.attr', 'pkg.module.Class.attr' or 'pkg.module:attr[.attr]'."""
    module_name, attrs = _split(path)
    if ":" in path:
        target: Any = _import(module_name, path)
    else:
        target, module_name, attrs = _import_dotted(module_name, attrs, path)
    for index, attr in enumerate(attrs):
        try:
            target = getattr(target, attr)
        except AttributeError:
            owner = ".".join([module_name, *attrs[:index]])
            raise AttributeMissing(
                f"run.function {_q(path)}: {_q(owner)} has no attribute {_q(attr)}{_suggest(attr, target)}"
            ) from None
    if not callable(target):
        raise NotCallable(f"run.function {_q(path)} is a {type(target).__name__}, not a function")
    return target


def _suggest(name: str, owner: Any) -> str:
    """Close matches among the callables of `owner`; else the ones it defines itself."""
    callables = [n for n in dir(owner) if not n.startswith("_") and callable(getattr(owner, n, None))]
    close = difflib.get_close_matches(name, callables, n=3, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    defined = [
        n for n in callables if getattr(getattr(owner, n), "__module__", None) == getattr(owner, "__name__", None)
    ]
    shown = defined or callables
    if not shown:
        return ""
    more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
    return f" (callables there: {', '.join(shown[:20])}{more})"


def check_arguments(function: Callable[..., Any], args: dict[str, Any], path: str) -> None:
    """Fail before anything starts when `args` does not fit the function's signature."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # builtins without a signature: the call itself will tell
    params = signature.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for name in args:
            if name not in params:
                hint = difflib.get_close_matches(name, list(params), n=1)
                raise BadArguments(
                    f"run.args.{name}: {path}{signature} got an unexpected keyword argument {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else "")
                )
    try:
        signature.bind(**args)
    except TypeError as exc:
        raise BadArguments(f"run.args do not fit {path}{signature}: {exc}") from None


def load_function(path: str, args: dict[str, Any]) -> Callable[..., Any]:
    function = resolve(path)
    check_arguments(function, args, path)
    return function


def check_result(result: Any, path: str, output_configured: bool) -> pd.DataFrame | None:
    if isinstance(result, pd.DataFrame):
        return result
    if result is None and not output_configured:
        return None
    if result is None:
        raise BadResult(
            f"{path} returned None but `output` is configured; return a pandas.DataFrame "
            "or remove `output` if the function stores its own results"
        )
    raise BadResult(
        f"{path} returned {type(result).__module__}.{type(result).__name__}, "
        f"expected a pandas.DataFrame: {result!r:.2000}"
    )


def call(function: Callable[..., Any], path: str, args: dict[str, Any]) -> Any:
    """Call the user's function; whatever it raises (SystemExit too) is its failure, logged
    with its traceback and raised as FunctionFailed."""
    try:
        return function(**args)
    except USER_CODE_ERRORS as exc:
        log.error("%s failed:\n%s", path, traceback.format_exc())
        raise FunctionFailed(f"{path} raised {type(exc).__name__}: {exc}") from exc
