"""A real terminal for tests: a command in a tmux pane, its screen read with capture-pane.

Each Terminal has its own tmux server (its own socket), so tests never see each other's panes
nor a person's tmux; the pane stays after the command ends, so its last screen can be read.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path


class Terminal:
    def __init__(self, columns: int = 120, rows: int = 24):
        self.socket = f"daskrun-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.columns, self.rows = columns, rows
        self._dir = tempfile.TemporaryDirectory(prefix="daskrun-terminal-")
        self._status = Path(self._dir.name) / "status"

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, command: list[str], env: dict[str, str]) -> Terminal:
        # The exit code goes through a file the shell writes as the command ends: tmux 3.3 may
        # leave the ended command a zombie it never reaps, with the pane "dead" but no status
        # (seen here: 2 of 15 short commands). The shell's own `$?` is 128 + N for a signal.
        wrapped = f'"$@"; echo $? > {shlex.quote(str(self._status))}'
        self._tmux(
            "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
            "new-session", "-d", "-s", "t", "-x", str(self.columns), "-y", str(self.rows),
            shlex.join(["sh", "-c", wrapped, "sh", *command]),
            env={**os.environ, **env, "TERM": "xterm-256color"},
        )  # fmt: skip
        return self

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def history(self) -> str:
        """The screen and every line scrolled off it, lines the terminal wrapped joined again."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")

    def resize(self, columns: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(columns), "-y", str(self.rows))
        self.columns = columns

    def exit_status(self) -> int | None:
        """None while the command runs; its exit code once it ended, 128 + N if signal N ended it."""
        try:
            written = self._status.read_text()
        except FileNotFoundError:
            return None
        return int(written) if written.endswith("\n") else None  # else still being written

    def wait_for(self, seen: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; the screen:\n{screen}")
            time.sleep(0.2)

    def wait_exit(self, timeout: float) -> int:
        self.wait_for(lambda _: self.exit_status() is not None, timeout, "the command to end")
        status = self.exit_status()
        assert status is not None
        return status

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)
        self._dir.cleanup()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
