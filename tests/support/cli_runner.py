"""`daskrun` as a user runs it: a real subprocess of this interpreter, from the repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def as_at_a_terminal() -> None:
    """`preexec_fn` of a child that the test interrupts as Ctrl-C would: SIGINT back to its
    default. Started in the background without job control (`make test &`, nohup, some CI
    runners), the test process ignores SIGINT; a child inherits that, and a Python whose SIGINT
    is ignored at start installs no KeyboardInterrupt, so the test's SIGINT did nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until_blocked_on(pid: int, path: Path, timeout: float = 60) -> None:
    """Wait until process `pid` sits in a system call on an open `path` (a read of a FIFO).

    A signal is only sure to interrupt a process already waiting in the call: one that lands
    between `open` returning and `read` starting sets Python's flag, which nothing checks
    before the read blocks for good, and the test waits for an exit that never comes. The
    kernel's /proc/PID/syscall shows the call a sleeping process is in; its first argument is
    the file descriptor, which /proc/PID/fd names."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fields = Path(f"/proc/{pid}/syscall").read_text().split()
            if len(fields) > 1 and fields[1].startswith("0x") and int(fields[1], 16) < 1 << 20:
                if os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}") == str(path):
                    return
        except OSError:
            pass  # between calls, or the descriptor just closed: look again
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never waited on {path} within {timeout} s")


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
