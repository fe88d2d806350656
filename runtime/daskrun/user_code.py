"""The user's own code in every process: which folders it is imported from, what runs first.

The rules here are shared by the config check, the bootstrap (scheduler and worker pods, and
the launcher) and the launcher's own interpreter, so that all of them agree on what an entry
of ``setup.preload`` or ``setup.python_path`` means.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import re
import sys
import types
from pathlib import Path
from typing import Literal

PreloadKind = Literal["file", "module", "source"]

MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# Inline preload sources are written to files with these names; Dask imports a preload file
# under its base name, so each needs its own.
SOURCE_FILE = "daskrun_preload_{index}.py"


def preload_kind(entry: str) -> PreloadKind:
    """Dask's own rule (``distributed.preloading``): a name ending in .py is a file, one
    without whitespace a module, anything else the module's source text."""
    if entry.endswith(".py"):
        return "file"
    if not any(char.isspace() for char in entry):
        return "module"
    return "source"


def relative_path_problem(path: str, has_repository: bool) -> str | None:
    """Why `path` (absolute, or relative to the clone) cannot be used; None when it can."""
    if ":" in path:
        return f"{path!r} contains ':', which separates PYTHONPATH entries; rename the folder"
    if posixpath.isabs(path):
        return None
    if not has_repository:
        return (
            f"{path!r} is relative, but there is no git_repository to be relative to; "
            "give an absolute path inside the image or add setup.git_repository"
        )
    if ".." in posixpath.normpath(path).split("/"):
        return f"{path!r} leaves the clone; give a path inside it, or an absolute path"
    return None


def preload_problem(entry: str, has_repository: bool) -> str | None:
    """Why a `setup.preload` entry cannot work; None when it can."""
    kind = preload_kind(entry)
    if kind == "file":
        return relative_path_problem(entry, has_repository)
    if kind == "module" and not MODULE_NAME.match(entry):
        return (
            f"{entry!r} is neither a module name (package.module), a .py file, nor Python "
            "source (source has a space or a line break)"
        )
    if kind == "source":
        try:
            compile(entry, "<setup.preload>", "exec")
        except SyntaxError as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            return f"inline Python source does not compile: {exc.msg}{where}"
        except ValueError as exc:  # null bytes, on older Pythons
            return f"inline Python source does not compile: {exc}"
    return None


def use_import_paths(pythonpath: str) -> list[str]:
    """Make this interpreter, and processes it starts, import from `pythonpath` (the value
    the bootstrap computed). Returns the folders that were new to sys.path, first first."""
    entries = [entry for entry in pythonpath.split(os.pathsep) if entry]
    added = [entry for entry in entries if entry not in sys.path]
    sys.path[0:0] = added
    # Local worker processes inherit the environment, not sys.path.
    if pythonpath:
        os.environ["PYTHONPATH"] = pythonpath
    importlib.invalidate_caches()
    return added


_RAN: set[tuple[str, str]] = set()


def run_preload(entry: str) -> None:
    """Run one resolved preload (a module name or a .py file) in this interpreter, as Dask
    does in the scheduler and the workers; a file with the same text runs only once."""
    if preload_kind(entry) == "module":
        importlib.import_module(entry)
        return
    source = Path(entry).read_text()
    # Registered under its file name, as Dask does, so tasks may refer to what it defines.
    name = Path(entry).stem
    if (name, source) in _RAN:
        return
    module = types.ModuleType(name)
    module.__file__ = entry
    sys.modules[name] = module
    try:
        exec(compile(source, entry, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    _RAN.add((name, source))
