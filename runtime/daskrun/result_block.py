"""The result as a block of log lines that `daskrun recover` turns back into the exact file.

The block is the last resort when the result cannot be stored, so it must survive a log:
every payload line starts with PREFIX (lines that other threads print in the middle are
skipped, and so are `kubectl logs --timestamps` prefixes), and no payload line holds a
character that any tool could read as a line break.

    ----- BEGIN DASKRUN RESULT (csv) -----
    daskrun-result| challenge,score
    daskrun-result| iris,0.9
    ----- END DASKRUN RESULT (csv) rows=1 header=1 sha256=<of the file's bytes> -----

The end marker's counts are checked when the block is read: a CSV block's records (its
unquoted line ends) must be `rows` + `header` (the header's lines: one, or more under a
MultiIndex of columns; only the sum can be checked), a Parquet file's footer must hold
`rows`. A CSV block of a version before `header=` has its row count taken as written.

A CSV payload is the CSV text split at "\\n" only, each piece escaped: backslash as ``\\\\``;
C0/C1 controls, DEL, U+2028/U+2029, U+FEFF and lone surrogates as ``\\xHH``/``\\uHHHH``
(Python's ``str.splitlines`` alone splits on ten characters). When the log stream cannot
encode all of Unicode, every non-ASCII character is escaped too (``\\UHHHHHHHH`` above the
BMP). A Parquet payload is base64, 76 characters a line.

Both directions stream: `CsvBlockWriter` and `ParquetBlockWriter` print a block while the
file is being written, and `read_last_block` reads a log line by line into a sink, so neither
holds more than about a MiB of the block at once beyond the file itself.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

PREFIX = "daskrun-result| "
FORMATS = ("csv", "parquet")
_MARK = "----- {edge} DASKRUN RESULT ({format}) "
_BEGIN = re.compile(r"----- BEGIN DASKRUN RESULT \((csv|parquet)\) -----$")
_END = re.compile(
    r"----- END DASKRUN RESULT \((csv|parquet)\) rows=(\d+)(?: header=(\d+))? sha256=([0-9a-f]{64}) -----$"
)
_BASE64_WIDTH = 76
_BASE64_LINE_BYTES = _BASE64_WIDTH // 4 * 3  # 57 bytes make one full line
# How much of a block is handled at once, writing or reading: large enough that Python's
# per-call cost vanishes, small against any result worth streaming.
_BATCH_CHARS = 1 << 20

# What must not reach a log line raw: the escape character itself, every control (this
# includes all ten characters str.splitlines breaks at), the Unicode line and paragraph
# separators, a BOM (stripped by some tools at a line start) and lone surrogates (not UTF-8).
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")
_UNSAFE_OR_NON_ASCII = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
# The same, leaving "\n" alone: for text of many lines that is split at "\n" afterwards.
_UNSAFE_BUT_NEWLINE = re.compile(r"[\\\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")
_UNSAFE_OR_NON_ASCII_BUT_NEWLINE = re.compile(r"[^\n\x20-\x5b\x5d-\x7e]")
_ANSI_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


class RecoverError(Exception):
    pass


# A Parquet footer (the file's metadata) is read from the last bytes of the file: a MiB holds
# that of any table short of some thousands of columns, whose row count then goes unchecked.
_FOOTER_KEPT = 1 << 20


def parquet_rows(tail: bytes | memoryview) -> int | None:
    """The row count in the footer of a Parquet file ending in `tail` (or all of it); None when
    the footer is not all in `tail` or pyarrow is not installed. A footer that does not parse is
    a count of -1: the file cannot be the table its block names. The one reading of the count:
    the block's end marker is written with it and checked with it."""
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        return -1
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 8 > len(tail):
        return None
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    try:
        return int(pq.ParquetFile(pa.BufferReader(b"PAR1" + tail[-(length + 8) :])).metadata.num_rows)
    except Exception:  # noqa: BLE001 -- pyarrow raises several kinds for a footer that is not one
        return -1


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x5C:
        return "\\\\"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unescape_char(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\"
    return chr(int(next(g for g in match.groups()[1:] if g), 16))


def escape_line(text: str, ascii_only: bool = False) -> str:
    """`text` (no "\\n" in it) as one log-safe line; `unescape_line` gives it back."""
    return (_UNSAFE_OR_NON_ASCII if ascii_only else _UNSAFE).sub(_escape_char, text)


# Marker text that is not the block's own: a log line quoting a config value, an exception
# or a cell must never read as a block's edge or payload, however the log is split into
# lines. The escapes keep the text readable and are not themselves marker text.
_MARKER_TEXT = re.compile(r"DASKRUN RESULT|daskrun-result\|")
_DEFANGED = {"DASKRUN RESULT": "DASKRUN\\x20RESULT", "daskrun-result|": "daskrun-result\\x7c"}


def defang(text: str) -> str:
    """`text` with anything `read_last_block` would take for a marker or payload escaped."""
    return _MARKER_TEXT.sub(lambda m: _DEFANGED[m.group()], text)


def unescape_line(line: str) -> str:
    # No escape sequence holds "\n", so this also unescapes many lines joined with "\n".
    return _ESCAPE.sub(_unescape_char, line)


def escape_lines(text: str, ascii_only: bool = False) -> str:
    """`escape_line` of each "\\n"-separated piece of `text`, the "\\n"s kept: one pass over it."""
    return (_UNSAFE_OR_NON_ASCII_BUT_NEWLINE if ascii_only else _UNSAFE_BUT_NEWLINE).sub(_escape_char, text)


def encode_text(text: str) -> bytes:
    # surrogatepass: a lone surrogate in a cell must not turn a stored result into a lost one.
    # It encodes each surrogate on its own, so text encodes the same in pieces as in one go.
    return text.encode("utf-8", "surrogatepass")


def _stream_takes_unicode(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name.startswith("utf")
    except LookupError:
        return False


def _begin_line(fmt: str) -> str:
    return _MARK.format(edge="BEGIN", format=fmt) + "-----"


def _end_line(fmt: str, rows: int, sha256: str, header: int | None = None) -> str:
    counts = f"rows={rows}" if header is None else f"rows={rows} header={header}"
    return _MARK.format(edge="END", format=fmt) + f"{counts} sha256={sha256} -----"


class CsvBlockWriter(io.TextIOBase):
    """A text file whose content (CSV text) is printed to `stream` as a block while it is written.

    The begin line is printed at once, each payload line once its "\\n" arrived; `end(rows,
    header)` prints the last piece and the end line (`header`: how many lines the CSV's header
    takes, see `output.header_lines`). pandas can write to it (`df.to_csv(writer)`).
    """

    def __init__(self, stream: TextIO, stream_encoding: str | None = "utf-8"):
        super().__init__()
        self._stream = stream
        self._ascii_only = not _stream_takes_unicode(stream_encoding)
        self._digest = hashlib.sha256()
        self._parts: list[str] = []
        self._size = 0
        self._pending: list[str] = []  # escaped text of the line not ended yet
        stream.write(_begin_line("csv") + "\n")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _BATCH_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        """Print every complete line written so far."""
        if not self._parts:
            return
        text, self._parts, self._size = "".join(self._parts), [], 0
        self._digest.update(encode_text(text))
        lines = escape_lines(text, self._ascii_only).split("\n")
        if len(lines) == 1:
            self._pending.append(lines[0])
            return
        lines[0] = "".join(self._pending) + lines[0]
        self._pending = [lines.pop()]
        self._stream.write(PREFIX + ("\n" + PREFIX).join(lines) + "\n")

    def end(self, rows: int, header: int = 1) -> None:
        """Print the last piece (empty after a final "\\n") and the end line."""
        self.flush()
        last = "".join(self._pending)
        end_line = _end_line("csv", rows, self._digest.hexdigest(), header)
        self._stream.write(PREFIX + last + "\n" + end_line + "\n")


class ParquetBlockWriter:
    """Prints the bytes of a Parquet file to `stream` as a block of base64 lines as they come."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._digest = hashlib.sha256()
        self._carry = b""  # fewer bytes than one line takes
        stream.write(_begin_line("parquet") + "\n")

    def write(self, data: bytes | memoryview) -> None:
        self._digest.update(data)
        joined = self._carry + bytes(data)
        cut = len(joined) - len(joined) % _BASE64_LINE_BYTES
        self._carry = joined[cut:]
        self._print(joined[:cut])

    def _print(self, data: bytes) -> None:
        encoded = base64.b64encode(data).decode("ascii")
        lines = [encoded[i : i + _BASE64_WIDTH] for i in range(0, len(encoded), _BASE64_WIDTH)]
        if lines:
            self._stream.write("".join(PREFIX + line + "\n" for line in lines))

    def end(self, rows: int) -> None:
        self._print(self._carry)
        self._carry = b""
        self._stream.write(_end_line("parquet", rows, self._digest.hexdigest()) + "\n")


def block_lines(
    payload: bytes, fmt: str, rows: int, stream_encoding: str | None = "utf-8", *, header: int = 1
) -> list[str]:
    """The log lines that carry `payload` (the bytes of a .csv or .parquet file)."""
    buffer = io.StringIO()
    if fmt == "csv":
        csv_block = CsvBlockWriter(buffer, stream_encoding)
        csv_block.write(payload.decode("utf-8", "surrogatepass"))
        csv_block.end(rows, header)
    elif fmt == "parquet":
        parquet_block = ParquetBlockWriter(buffer)
        for start in range(0, len(payload), _BATCH_CHARS):
            parquet_block.write(payload[start : start + _BATCH_CHARS])
        parquet_block.end(rows)
    else:
        raise ValueError(f"unknown result format {fmt!r}")
    return buffer.getvalue().split("\n")[:-1]


class CsvRecords:
    """Counts the records of CSV bytes given piece by piece, as a CSV reader reads them."""

    def __init__(self) -> None:
        self._ended = 0  # line ends outside quotes so far
        self._quoted = False  # the bytes so far leave a quoted field open
        self._last = b""

    def add(self, data: bytes) -> None:
        # Every '"' opens or closes a quoted field ('""' inside one does both), and only a line
        # end outside quotes ends a record.
        for n, piece in enumerate(data.split(b'"')):
            if n:
                self._quoted = not self._quoted
            if not self._quoted:
                self._ended += piece.count(b"\n")
        if data:
            self._last = data[-1:]

    def count(self) -> int:
        """Records so far: the last one counts when no line end closed it yet."""
        return self._ended + (1 if self._last not in (b"", b"\n") else 0)


class _Payload:
    """The file's bytes of one block, decoded from its payload lines as they come, hashed and
    written to `sink` (None: hashed only)."""

    def __init__(self, fmt: str, sink: BinaryIO | None):
        self.format = fmt
        self.sink = sink
        self.broken = False  # the base64 of a Parquet block does not decode
        self._digest = hashlib.sha256()
        self._lines: list[str] = []
        self._chars = 0
        self._started = False  # a CSV batch was written: the next one starts after a "\n"
        self._carry = ""  # base64 characters short of a group of 4
        self._padded = False  # base64 padding seen: nothing may follow
        self._records = CsvRecords()
        self._tail = b""  # Parquet: the file's last bytes, where its footer is

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._chars += len(line)
        if self._chars >= _BATCH_CHARS:
            self._decode(final=False)

    def sha256(self) -> str:
        """Of all the bytes, once every line was added; of none when the base64 is broken."""
        self._decode(final=True)
        return hashlib.sha256(b"").hexdigest() if self.broken else self._digest.hexdigest()

    def _emit(self, data: bytes) -> None:
        self._digest.update(data)
        if self.sink is not None:
            self.sink.write(data)
        if not data:
            return
        if self.format == "csv":
            self._records.add(data)
        else:
            self._tail = (self._tail + data)[-_FOOTER_KEPT:]

    def count_problem(self, rows: int, header: int | None) -> str | None:
        """What contradicts the end marker's counts, once the block is read whole (None: nothing)."""
        if self.format == "csv":
            if header is None:  # written before header= existed: nothing to check against
                return None
            records = self._records.count()
            if records != rows + header:
                return f"has {records} CSV records, not the {rows} rows and {header} header line(s) its end marker says"
            return None
        found = parquet_rows(self._tail)
        if found == -1:
            return "is not a Parquet file: its bytes do not end in a Parquet footer"
        if found is not None and found != rows:
            return f"holds a Parquet file of {found} rows, not the {rows} its end marker says"
        return None

    def _decode(self, final: bool) -> None:
        lines, self._lines, self._chars = self._lines, [], 0
        if self.format == "csv":
            if lines:
                if self._started:
                    self._emit(b"\n")
                self._started = True
                self._emit(encode_text(unescape_line("\n".join(lines))))
            return
        if self.broken:
            return
        text = self._carry + "".join(lines)
        cut = len(text) if final else len(text) - len(text) % 4
        self._carry = text[cut:]
        if not cut:
            return
        # Decoded a group of 4 at a time, strictly, as `b64decode(whole, validate=True)` would:
        # padding ends the data, and any character outside the alphabet breaks it.
        try:
            if self._padded:
                raise binascii.Error("data after padding")
            data = base64.b64decode(text[:cut], validate=True)
        except ValueError:  # binascii.Error, or a character that is not ASCII
            self.broken = True
            return
        self._padded = text[cut - 1] == "="
        self._emit(data)


@dataclass(frozen=True)
class Found:
    """The last intact block of a log: its file's bytes are in `sink` (None: `new_sink` gave none)."""

    format: str
    rows: int
    sink: BinaryIO | None
    notes: tuple[str, ...] = ()  # later blocks that were skipped, and why


def read_last_block(
    lines: Iterable[str],
    new_sink: Callable[[], BinaryIO | None],
    drop_sink: Callable[[BinaryIO], None] = lambda sink: None,
) -> Found:
    """The last complete, undamaged result block of a log's lines, checked against its sha256.

    Each block's bytes go to a sink of `new_sink()` as its lines are read; the sinks of blocks
    that turn out cut off or damaged, and of an intact block that a later one replaces, are
    given to `drop_sink`. Raises RecoverError when no block is intact.
    """
    count = 0
    problems: list[tuple[int, str]] = []  # of the blocks after the last intact one
    best: Found | None = None
    current: _Payload | None = None

    def give_up(payload: _Payload, why: str) -> None:
        problems.append((count, why))
        if payload.sink is not None:
            drop_sink(payload.sink)

    for line in lines:
        # A terminal's colour codes are never data (a payload escapes ESC), and an editor may
        # strip the spaces after a marker.
        if "\x1b" in line:
            line = _ANSI_CODE.sub("", line)
        position = line.find(PREFIX)
        if position >= 0:
            # A payload line, whatever it contains: marker text inside the data is data.
            if current is not None:
                current.add(line[position + len(PREFIX) :])
            continue
        line = line.rstrip()
        begin = _BEGIN.search(line)
        if begin:
            if current is not None:
                give_up(current, "is cut off: its end marker is missing")
            count += 1
            current = _Payload(begin.group(1), new_sink())
            continue
        end = _END.search(line)
        if end and current is not None and end.group(1) == current.format:
            actual, expected = current.sha256(), end.group(4)
            rows, header = int(end.group(2)), None if end.group(3) is None else int(end.group(3))
            count_problem = None if current.broken else current.count_problem(rows, header)
            if current.broken or actual != expected:
                give_up(current, f"is damaged: sha256 {actual} != {expected} from the log")
            elif count_problem:
                give_up(current, f"is damaged: it {count_problem}")
            else:
                if best is not None and best.sink is not None:
                    drop_sink(best.sink)
                best, problems = Found(current.format, rows, current.sink), []
            current = None
    if current is not None:
        give_up(current, "is cut off: its end marker is missing")
    if best is not None:
        notes = tuple(f"skipped result block {n} of {count}: it {why}" for n, why in reversed(problems))
        return Found(best.format, best.rows, best.sink, notes)
    if count == 0:
        raise RecoverError(
            "no result block found (looked for a line ending in "
            "'----- BEGIN DASKRUN RESULT (csv) -----' or '(parquet)')"
        )
    if count == 1:
        raise RecoverError(f"the result block {problems[0][1]}")
    raise RecoverError(
        f"none of the {count} result blocks is intact: "
        + "; ".join(f"block {n} {why}" for n, why in reversed(problems))
    )


def log_encoding(start: bytes) -> str:
    """UTF-16 for a log that starts with its byte order mark and an ASCII character (a
    timestamp, a word), else UTF-8."""
    if start[:2] == codecs.BOM_UTF16_LE and start[3:4] == b"\x00" and start[2:3] != b"\x00":
        return "utf-16"
    if start[:2] == codecs.BOM_UTF16_BE and start[2:3] == b"\x00" and start[3:4] != b"\x00":
        return "utf-16"
    return "utf-8"


def log_lines(pieces: Iterable[bytes | str]) -> Iterator[str]:
    """The lines of a log read piece by piece (the lines of a binary file), split as
    `str.splitlines` splits the whole log but for empty lines, which hold no block; undecodable
    bytes become U+FFFD as in `bytes.decode(..., "replace")` of the whole log. A log that starts
    with a UTF-16 byte order mark (PowerShell's `>` writes one) is read as UTF-16."""
    decoder: codecs.IncrementalDecoder | None = None
    carry = ""
    for piece in pieces:
        if isinstance(piece, str):
            yield from piece.splitlines()
            continue
        if decoder is None:
            decoder = codecs.getincrementaldecoder(log_encoding(piece))("replace")
        # Pieces cut at b"\n" split a UTF-16 character: the decoder carries the half over.
        lines = (carry + decoder.decode(piece)).splitlines(keepends=True)
        carry = lines.pop() if lines and lines[-1].splitlines()[0] == lines[-1] else ""
        for line in lines:
            yield line.splitlines()[0]
    if decoder is not None:
        yield from (carry + decoder.decode(b"", final=True)).splitlines()


def _pieces(text: str) -> Iterator[str]:
    """`text` cut after each "\n", one piece at a time."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


@dataclass(frozen=True)
class Recovered:
    format: str
    data: bytes
    rows: int
    notes: tuple[str, ...] = ()  # later blocks that were skipped, and why


def recover_block(log_text: str) -> Recovered:
    """The last complete, undamaged result block of a log, checked against its sha256."""
    found = read_last_block(log_lines(_pieces(log_text)), io.BytesIO)
    assert isinstance(found.sink, io.BytesIO)
    return Recovered(found.format, found.sink.getvalue(), found.rows, found.notes)


def recover(log_text: str) -> str:
    """The CSV text of the last intact result block (see `recover_block` for Parquet)."""
    recovered = recover_block(log_text)
    if recovered.format != "csv":
        raise RecoverError(
            f"the result block holds {recovered.format}, not CSV: "
            "write it to a file with `daskrun recover LOG -o result.parquet`"
        )
    return recovered.data.decode("utf-8", "surrogatepass")
