"""What a function receives: one row per argument with its value's type and repr.

`run.function: daskrun.examples.echo.arguments` shows how a values file's `run.args` reach the
function, locally and in the pod alike (README: one file, one meaning).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def arguments(**args: Any) -> pd.DataFrame:
    rows = [{"name": name, "type": type(value).__name__, "value": repr(value)} for name, value in sorted(args.items())]
    return pd.DataFrame(rows, columns=["name", "type", "value"])
