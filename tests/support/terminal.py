"""A real terminal for tests: a command in a tmux pane, its screen read with capture-pane.

Each Terminal has its own tmux server (its own socket), so tests never see each other's panes
nor a person's tmux; the pane stays after the command ends, to read its exit status.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable


class Terminal:
    def __init__(self, columns: int = 120, rows: int = 24):
        self.socket = f"daskrun-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.columns, self.rows = columns, rows

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
        # One tmux call: the server runs its commands in order, so the pane is kept even when
        # the command ends at once.
        self._tmux(
            "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
            "new-session", "-d", "-s", "t", "-x", str(self.columns), "-y", str(self.rows),
            shlex.join(command),
            env={**os.environ, **env, "TERM": "xterm-256color"},
        )  # fmt: skip
        return self

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def interrupt(self) -> None:
        self._tmux("send-keys", "-t", "t", "C-c")

    def exit_status(self) -> int | None:
        """None while the command runs; its exit code, or 128 + the signal that killed it, as a
        shell says (tmux gives one of the two). tmux marks the pane dead when its terminal
        closes and learns the status only when it reaps the process, a moment later: until
        then both are empty, and the command counts as running."""
        shown = self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}")
        dead, status, killed = shown.strip().split(":")
        if dead != "1" or not (status or killed):
            return None
        return int(status) if status else 128 + int(killed)

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

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
