"""The status line below a scrolling log (daskrun.terminal_status): what it writes to a terminal
around each log record, to a buffer that says it is a terminal and to a real pseudo terminal
(its width read from the terminal at each draw), and that the log text itself is untouched."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import struct
import termios
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskrun.terminal_status import (
    ERASE,
    StatusLine,
    StatusLineHandler,
    WrittenAbove,
    cells,
    fit,
)

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # the CLI's (daskrun.cli)


class TerminalBuffer(io.StringIO):
    """What a terminal is sent, kept; it says it is one, as a pseudo terminal would."""

    def isatty(self) -> bool:
        return True


def logger_to(handler: logging.Handler, name: str = "daskrun.test") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def record(message: str, name: str = "daskrun.test") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def plain_text(logged: logging.LogRecord) -> str:
    """What today's StreamHandler writes for the record: the bytes the status line must keep."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.emit(logged)
    return out.getvalue()


def test_each_record_erases_the_line_is_written_and_the_line_drawn_again():
    out = TerminalBuffer()
    line = StatusLine(out, lambda columns: "running 3/10", columns=lambda: 80)
    handler = StatusLineHandler(line)
    handler.setFormatter(logging.Formatter("%(message)s"))
    line.redraw()
    assert out.getvalue() == "running 3/10"  # nothing to erase yet
    handler.emit(record("first"))
    handler.emit(record("second"))
    assert out.getvalue() == "running 3/10" + f"{ERASE}first\nrunning 3/10" + f"{ERASE}second\nrunning 3/10"
    assert ERASE == "\r\x1b[2K"


def test_the_line_is_cut_to_the_width_read_at_each_draw():
    columns = [40]
    out = TerminalBuffer()
    line = StatusLine(out, lambda width: "x" * 200, columns=lambda: columns[0])
    line.redraw()
    assert out.getvalue() == "x" * 39  # the last column free: some terminals wrap on it
    columns[0] = 20
    line.redraw()
    # Narrower since it was drawn: the terminal re-wrapped the 39 cells onto two rows.
    assert out.getvalue().endswith("\r\x1b[1A\x1b[J" + "x" * 19)


def test_wide_characters_count_two_cells_and_control_characters_show_as_question_marks():
    assert fit("関数の実行中", 7) == "関数の"
    assert cells(fit("関数の実行中", 7)) == 6
    assert fit("a\nb\x1b[2Jc", 80) == "a?b?[2Jc"


def test_end_leaves_the_cursor_on_a_row_of_its_own():
    out = TerminalBuffer()
    line = StatusLine(out, lambda columns: "running", columns=lambda: 80)
    line.redraw()
    line.end(["bench succeeded (exit 0: done) after 0m12s", "result: /tmp/r.csv"])
    assert out.getvalue() == "running" + ERASE + "bench succeeded (exit 0: done) after 0m12s\nresult: /tmp/r.csv\n"
    line.redraw()  # the redraw thread's last tick, after the end: draws nothing
    line.write("late\n")
    assert out.getvalue().endswith("result: /tmp/r.csv\nlate\n")


def test_after_text_without_its_newline_the_line_waits_and_the_end_adds_the_newline():
    out = TerminalBuffer()
    line = StatusLine(out, lambda columns: "S", columns=lambda: 80)
    line.redraw()
    line.write("Progress of my own: 50%")
    line.redraw()  # not onto the row of that text
    assert out.getvalue() == f"S{ERASE}Progress of my own: 50%"
    line.end()
    assert out.getvalue().endswith("50%\n")


def test_prints_to_stdout_on_the_same_terminal_go_above_the_line():
    terminal, stdout = TerminalBuffer(), TerminalBuffer()
    line = StatusLine(terminal, lambda columns: "S", columns=lambda: 80)
    line.redraw()
    print("a table row", file=WrittenAbove(line, stdout))  # print writes the text, then "\n"
    assert stdout.getvalue() == "a table row\n"
    assert terminal.getvalue() == f"S{ERASE}S"
    assert WrittenAbove(line, stdout).isatty() and WrittenAbove(line, stdout).getvalue() == "a table row\n"


def test_a_status_that_raises_costs_the_line_not_the_log():
    out = TerminalBuffer()
    handler = StatusLineHandler(StatusLine(out, lambda columns: 1 / 0, columns=lambda: 80))
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(record("still logged"))
    assert out.getvalue() == "still logged\n"


class SlowTerminal(TerminalBuffer):
    """A terminal that takes its time with each write, as a real one can: other threads run meanwhile."""

    def write(self, text: str) -> int:
        time.sleep(0.00001)
        return super().write(text)


def test_one_lock_for_every_writer_no_line_drawn_twice_nor_text_after_it_without_an_erase():
    out = SlowTerminal()
    stdout = SlowTerminal()
    line = StatusLine(out, lambda columns: "<status>", columns=lambda: 80)
    handler = StatusLineHandler(line)
    handler.setFormatter(logging.Formatter("%(threadName)s %(message)s"))
    logger = logger_to(handler, "daskrun.test.lock")
    line.keep_drawn(every=0.0005)  # as the redraw thread, but much more often

    def log_many(index: int) -> None:
        for number in range(300):
            logger.info("record %d of thread %d", number, index)
            if number % 10 == 0:
                WrittenAbove(line, stdout).write(f"print {number} of {index}\n")

    threads = [threading.Thread(target=log_many, args=(index,), name=f"t{index}") for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    line.end()
    written = out.getvalue()
    # Every status line is followed by an erase or is the last one, which end() erased.
    assert re.findall(r"<status>(?!\r\x1b\[2K)", written) == []
    lines = written.replace(ERASE, "").replace("<status>", "").splitlines()
    assert sorted(lines) == sorted(f"t{i} record {n} of thread {i}" for i in range(6) for n in range(300))
    assert len(stdout.getvalue().splitlines()) == 6 * 30


# Any text at all: newlines, carriage returns, escape sequences, other controls, long lines.
MESSAGES = st.text(st.characters(codec="utf-8"), max_size=400) | st.text("\n\r\x1b[]0123456789;ABCDJKm\t\x00\x08", max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGES, min_size=1, max_size=8), st.integers(1, 300), st.text(max_size=300))
def test_whatever_is_logged_the_record_is_kept_whole_and_the_line_after_it_is_intact(messages, columns, status):
    out = TerminalBuffer()
    line = StatusLine(out, lambda width: status, columns=lambda: columns)
    handler = StatusLineHandler(line)
    handler.setFormatter(logging.Formatter(FORMAT))
    drawn = fit(status, columns)
    assert cells(drawn) < columns or drawn == ""
    assert not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in drawn)
    line.redraw()
    for message in messages:
        before, logged = len(out.getvalue()), record(message)
        handler.emit(logged)
        emitted = out.getvalue()[before:]
        erase = ERASE if drawn else ""
        # The erase, the record as a plain StreamHandler writes it, then the line again.
        assert emitted == erase + plain_text(logged) + drawn
    line.end()
    assert out.getvalue().endswith(("\n", ERASE))  # the cursor at the start of a blank row


def pty_of(columns: int) -> tuple[int, io.TextIOWrapper]:
    master, slave = os.openpty()
    set_size(slave, columns)
    return master, io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8", write_through=True)


def set_size(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))


def read_all(master: int) -> str:
    os.set_blocking(master, False)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_on_a_pseudo_terminal_the_width_is_the_terminals_and_follows_a_resize():
    master, slave = pty_of(60)
    try:
        line = StatusLine(slave, lambda width: f"{width} columns " + "=" * 200)
        line.redraw()
        first = read_all(master)
        assert first == ("60 columns " + "=" * 200)[:59]
        set_size(slave.fileno(), 30)
        StatusLineHandler(line).emit(record("a record"))
        second = read_all(master)
        # The 59 cells re-wrapped onto 2 rows of 30: up one, erase down, the record, the line.
        assert second == "\r\x1b[1A\x1b[J" + "a record\r\n" + ("30 columns " + "=" * 200)[:29]
    finally:
        slave.close()
        os.close(master)

