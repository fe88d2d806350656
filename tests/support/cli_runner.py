"""`daskrun` as a user runs it: a real subprocess of this interpreter, from the repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def as_at_a_terminal() -> None:
    """`preexec_fn` of a child that the test interrupts as Ctrl-C would: SIGINT back to its
    default. Started in the background without job control (`make test &`, nohup, some CI
    runners), the test process ignores SIGINT; a child inherits that, and a Python whose SIGINT
    is ignored at start installs no KeyboardInterrupt, so the test's SIGINT did nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(env: dict | None = None) -> dict:
    """The environment of a CLI subprocess: this checkout's runtime first on PYTHONPATH, so
    the daskrun under test is the one beside these tests (not whichever checkout the venv's
    editable install points at), also when a test sets PYTHONPATH for its own modules."""
    merged = {**os.environ, **(env or {})}
    paths = [str(REPO / "runtime"), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return merged


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """`python -m daskrun ARGS` in a subprocess: real exit codes, real stdout/stderr."""
    return subprocess.run(
        [sys.executable, "-m", "daskrun", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
    )
