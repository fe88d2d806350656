"""`daskrun run` as a child process whose exit 0 counts only once the result is kept.

User code runs in the launcher's process: a preload, the function or a thread of theirs can
end it with `os._exit(0)` (or a C library's `exit(0)`), which no `try` sees, and the run
would report success with nothing stored and nothing logged. So the command the Job (or the
user's shell) runs is a small parent that starts the real run as its child, passes it every
signal it gets, and turns the child's exit 0 into a failure unless the child wrote "kept"
to a marker file first, which it does only after the result is stored or printed. Likewise
an exit code the child did not choose itself (user code's `os._exit(3)` would read as "the
result is in the log", `os._exit(4)` as a cluster failure worth retrying): daskrun writes the
code it exits with to the marker, and any other code is the user code's failure.

The parent imports nothing heavy: it costs a Python start-up, not the run's libraries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from daskrun.errors import ExitCode
from daskrun.terminal_status import ERASE

ENV_MARKER = "DASKRUN_KEPT_MARKER"
_KEPT = b"kept"
_EXIT = b"exit="
# What a pod's runtime or a terminal sends; the child (in its own process group, so a
# terminal's Ctrl-C reaches it once, through here) handles each itself.
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
ENDED_OTHERWISE = (
    "the run's process exited {code}, a code daskrun did not choose: user code (the function, a "
    "preload or one of their threads) ended the process, e.g. with os._exit({code}); {what}"
)
ENDED_EARLY = (
    "the run's process exited 0 before its result was kept: user code (the function, a "
    "preload or one of their threads) ended the process, e.g. with os._exit(0); nothing "
    "was stored. Return the DataFrame instead, or raise to fail the run"
)

_marker: str | None = None
_kept = False


def take_marker() -> None:
    """In the child: remember the marker and hide it from user code and its subprocesses."""
    global _marker
    _marker = os.environ.pop(ENV_MARKER, None) or _marker


def mark_kept() -> None:
    """In the child, once the result is kept: the only way its exit 0 reaches the caller."""
    global _kept
    _kept = True
    if _marker is not None:
        with open(_marker, "wb") as marker:
            marker.write(_KEPT)


def mark_exit(code: int) -> None:
    """In the child, just before it exits: the code is daskrun's own, not user code's."""
    if _marker is not None:
        with open(_marker, "ab") as marker:
            marker.write(b"\n" + _EXIT + str(code).encode())


def _read_marker(path: str) -> tuple[bool, int | None]:
    """Whether the child kept its result, and the exit code it chose (None: it did not exit itself)."""
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    chosen = [line.removeprefix(_EXIT) for line in lines if line.startswith(_EXIT)]
    return _KEPT in lines, int(chosen[-1]) if chosen and chosen[-1].isdigit() else None


def kept() -> bool:
    """Whether this process has kept the run's result (stored or printed) by now."""
    return _kept


_PR_SET_PDEATHSIG = 1


def _stop_with_the_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (killed with SIGKILL, say), so
    the run still deletes its Dask cluster instead of running on unwatched."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _clear_status_line() -> None:
    """A child that ended past its own clean-up (a signal, os._exit) may have left a local
    run's status line (daskrun.local_display) on the terminal: not the prompt's row."""
    if sys.stderr.isatty():
        sys.stderr.write(ERASE)
        sys.stderr.flush()


def run_guarded(argv: Sequence[str]) -> int:
    """Run `daskrun <argv>` as a child; its exit code, or FUNCTION_FAILED for an exit 0 with
    no result kept or a code the child did not choose, or 128 + the signal that killed it."""
    fd, marker = tempfile.mkstemp(prefix="daskrun-kept-")
    os.close(fd)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "daskrun", *argv],
            env={**os.environ, ENV_MARKER: marker},
            process_group=0,
            preexec_fn=_stop_with_the_parent,
        )
        previous = {sig: signal.signal(sig, lambda signum, frame: child.send_signal(signum)) for sig in _FORWARDED}
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code < 0:
            _clear_status_line()
            return 128 - code
        was_kept, chosen = _read_marker(marker)
        if code == 0 and not was_kept:
            _clear_status_line()
            print(f"daskrun: {ENDED_EARLY}", file=sys.stderr, flush=True)
            return ExitCode.FUNCTION_FAILED
        if code != 0 and chosen != code:
            # The result, when kept, is stored or printed already: exit 0 says so.
            _clear_status_line()
            what = "the result was kept before it" if was_kept else "nothing was stored"
            print(f"daskrun: {ENDED_OTHERWISE.format(code=code, what=what)}", file=sys.stderr, flush=True)
            return ExitCode.OK if was_kept else ExitCode.FUNCTION_FAILED
        return code
    finally:
        os.unlink(marker)
