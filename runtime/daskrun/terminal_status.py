"""A status line kept at the bottom of a terminal while text (log records, prints) scrolls above.

Every write goes through one lock: the status line is erased, the text written, the line drawn
again below it. The line is cut to the terminal's width as it is at each draw, so a resize is
followed within a draw: a status that wrapped onto a second row would leave the erase (which
clears one row) a row short, and a stale copy of the line in the scrollback with every redraw.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TextIO

# To the row's start and erase the row: the status line's row is blank again, and whatever is
# written next starts where the status line was.
ERASE = "\r\x1b[2K"
REDRAW_SECONDS = 1.0  # the elapsed time and the bar move on between log records


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(line: str) -> int:
    return sum(_cells(char) for char in line)


def fit(line: str, columns: int) -> str:
    """`line` in fewer than `columns` cells, on one row: the last column stays free (some
    terminals wrap as a character lands there), a wide character counts two cells, and a
    control character, which could move the cursor, shows as `?`."""
    line = "".join("?" if unicodedata.category(char) == "Cc" else char for char in line)
    used = 0
    for index, char in enumerate(line):
        used += _cells(char)
        if used > columns - 1:
            return line[:index]
    return line


def columns_of(stream: TextIO) -> int:
    """The width of the terminal `stream` writes to, read now: the user may have resized it."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both of the latter
        return shutil.get_terminal_size().columns


class StatusLine:
    """One line at the bottom of a terminal, `status(columns)` as it is at each draw, below what is
    written through `write`. Its lock is the one every writer takes, the progress thread's
    and Dask's log records from their threads and the main thread's prints alike."""

    def __init__(self, stream: TextIO, status: Callable[[int], str], columns: Callable[[], int] | None = None):
        self.stream = stream
        self._status = status
        self._columns = columns or (lambda: columns_of(stream))
        self.lock = threading.RLock()
        self._shown = 0  # cells of the status line on the cursor's row; 0: none there
        self._mid_line = False  # text ended without its newline: the cursor's row is that text's
        self._ended = False
        self._stop = threading.Event()
        self._redrawing: threading.Thread | None = None

    def _line(self, columns: int) -> str:
        try:
            return fit(self._status(columns), columns)
        except Exception:  # noqa: BLE001 - a status that cannot be said costs the line, never the run
            return ""

    def _erase(self, columns: int) -> str:
        """Back to the status line's start and erase it. A terminal made narrower since the line
        was drawn has (as most do: tmux, VTE, iTerm2, kitty, Windows Terminal) re-wrapped it
        onto more rows, the cursor on the last: those rows are erased too."""
        if not self._shown:
            return ""
        rows = -(-self._shown // max(columns, 1))
        return ERASE if rows <= 1 else f"\r\x1b[{rows - 1}A\x1b[J"

    def write(self, text: str, stream: TextIO | None = None) -> None:
        """`text` above the status line, to this terminal or to `stream` (stdout on the same
        terminal): the line is drawn again once the text has ended its line."""
        with self.lock:
            columns = self._columns()
            erase = self._erase(columns)
            if text:
                self._mid_line = not text.endswith("\n")
            line = "" if self._mid_line or self._ended else self._line(columns)
            # Said before writing: a stop signal raised inside the write leaves the next
            # erase to clear the row, whatever of it was written.
            self._shown = cells(line)
            if stream is None or stream is self.stream:
                self.stream.write(erase + text + line)
            else:
                self.stream.write(erase)
                self.stream.flush()
                stream.write(text)
                stream.flush()
                self.stream.write(line)
            self.stream.flush()

    def redraw(self) -> None:
        with self.lock:
            if not self._mid_line and not self._ended:
                self.write("")

    def keep_drawn(self, every: float = REDRAW_SECONDS) -> None:
        """Redraw every `every` seconds until `end`, so the line moves while nothing is logged."""

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.redraw()
                except (OSError, ValueError):  # the terminal is gone (hung up) or closed
                    return

        self._redrawing = threading.Thread(target=loop, name="daskrun-status-line", daemon=True)
        self._redrawing.start()

    def end(self, lines: Sequence[str] = ()) -> None:
        """Erase the status line for good and write `lines` in its place, the cursor left at the
        start of an empty row for the shell's prompt. Not cut to the width: written once, never
        redrawn, they may wrap (a result's long path is worth its whole)."""
        self._stop.set()
        if self._redrawing is not None and self._redrawing is not threading.current_thread():
            self._redrawing.join(5)
        with self.lock:
            out = self._erase(self._columns()) if self._shown else ("\n" if self._mid_line else "")
            self._shown, self._mid_line = 0, False
            self._ended = True
            self.stream.write(out + "".join(f"{line}\n" for line in lines))
            self.stream.flush()


class StatusLineHandler(logging.StreamHandler):
    """Writes each log record above the status line, byte for byte what a StreamHandler with
    the same formatter writes; the escape sequences around it go to the terminal only."""

    def __init__(self, status_line: StatusLine):
        super().__init__(status_line.stream)
        self.status_line = status_line

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.status_line.write(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as logging.StreamHandler: reported, never raised into the caller
            self.handleError(record)


class WrittenAbove:
    """sys.stdout or sys.stderr while the status line is shown: what anyone prints to the same
    terminal goes above the line, not after it on its row."""

    def __init__(self, status_line: StatusLine, stream: TextIO):
        self._status_line = status_line
        self._stream = stream

    def write(self, text: str) -> int:
        self._status_line.write(text, self._stream)
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, encoding, isatty, fileno: the stream's own
        return getattr(self._stream, name)
