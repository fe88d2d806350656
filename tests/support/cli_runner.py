"""`daskrun` as a user runs it: a real subprocess of this interpreter, from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """`python -m daskrun ARGS` in a subprocess: real exit codes, real stdout/stderr."""
    return subprocess.run(
        [sys.executable, "-m", "daskrun", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
