"""Is there a Parquet engine that imports here? Asked before the function runs, not after.

A pyarrow built for another numpy installs cleanly (`pip check` is happy) and fails only on
import; pandas then reports "Missing optional dependency", hiding why. This check names
`output.path` and carries the import's own error.
"""

from __future__ import annotations

import importlib

from daskrun.config import Output
from daskrun.errors import ConfigError

# What pandas' engine="auto" tries, in its order; each with the module pandas imports.
ENGINES = (("pyarrow", "pyarrow.parquet"), ("fastparquet", "fastparquet"))


def check_engine(output: Output | None) -> None:
    """Raise ConfigError (exit 2) when `output` is a .parquet file and no engine imports."""
    if output is None or not output.is_parquet:
        return
    failures = []
    for name, module in ENGINES:
        try:
            importlib.import_module(module)
            return
        except ModuleNotFoundError as exc:
            failures.append(f"{name} is not installed" if exc.name == name else f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 -- a broken build raises anything at import time
            failures.append(f"importing {name} failed: {type(exc).__name__}: {exc}")
    raise ConfigError(
        [
            (
                "output.path",
                f"{output.path!r} needs a Parquet engine, and none imports here ({'; '.join(failures)}); "
                "install daskrun[parquet] with a pyarrow built for this numpy, or write a .csv",
            )
        ]
    )
