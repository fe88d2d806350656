"""The result as a block of log lines that `daskrun recover` turns back into the exact file.

The block is the last resort when the result cannot be stored, so it must survive a log:
every payload line starts with PREFIX (lines that other threads print in the middle are
skipped, and so are `kubectl logs --timestamps` prefixes), and no payload line holds a
character that any tool could read as a line break.

    ----- BEGIN DASKRUN RESULT (csv) -----
    daskrun-result| challenge,score
    daskrun-result| iris,0.9
    ----- END DASKRUN RESULT (csv) rows=1 sha256=<of the file's bytes> -----

A CSV payload is the CSV text split at "\\n" only, each piece escaped: backslash as ``\\\\``;
C0/C1 controls, DEL, U+2028/U+2029, U+FEFF and lone surrogates as ``\\xHH``/``\\uHHHH``
(Python's ``str.splitlines`` alone splits on ten characters). When the log stream cannot
encode all of Unicode, every non-ASCII character is escaped too (``\\UHHHHHHHH`` above the
BMP). A Parquet payload is base64, 76 characters a line.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass, field

PREFIX = "daskrun-result| "
FORMATS = ("csv", "parquet")
_MARK = "----- {edge} DASKRUN RESULT ({format}) "
_BEGIN = re.compile(r"----- BEGIN DASKRUN RESULT \((csv|parquet)\) -----$")
_END = re.compile(r"----- END DASKRUN RESULT \((csv|parquet)\) rows=(\d+) sha256=([0-9a-f]{64}) -----$")
_BASE64_WIDTH = 76

# What must not reach a log line raw: the escape character itself, every control (this
# includes all ten characters str.splitlines breaks at), the Unicode line and paragraph
# separators, a BOM (stripped by some tools at a line start) and lone surrogates (not UTF-8).
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")
_UNSAFE_OR_NON_ASCII = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


class RecoverError(Exception):
    pass


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


def unescape_line(line: str) -> str:
    return _ESCAPE.sub(_unescape_char, line)


def encode_text(text: str) -> bytes:
    # surrogatepass: a lone surrogate in a cell must not turn a stored result into a lost one.
    return text.encode("utf-8", "surrogatepass")


def _stream_takes_unicode(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name.startswith("utf")
    except LookupError:
        return False


def block_lines(payload: bytes, fmt: str, rows: int, stream_encoding: str | None = "utf-8") -> list[str]:
    """The log lines that carry `payload` (the bytes of a .csv or .parquet file)."""
    if fmt == "csv":
        ascii_only = not _stream_takes_unicode(stream_encoding)
        text = payload.decode("utf-8", "surrogatepass")
        body = [escape_line(piece, ascii_only) for piece in text.split("\n")]
    elif fmt == "parquet":
        encoded = base64.b64encode(payload).decode("ascii")
        body = [encoded[i : i + _BASE64_WIDTH] for i in range(0, len(encoded), _BASE64_WIDTH)]
    else:
        raise ValueError(f"unknown result format {fmt!r}")
    digest = hashlib.sha256(payload).hexdigest()
    return (
        [_MARK.format(edge="BEGIN", format=fmt) + "-----"]
        + [PREFIX + line for line in body]
        + [_MARK.format(edge="END", format=fmt) + f"rows={rows} sha256={digest} -----"]
    )


@dataclass
class Block:
    format: str
    body: list[str] = field(default_factory=list)
    rows: int | None = None
    sha256: str | None = None  # None: no end marker seen, the block is cut off

    def payload(self) -> bytes | None:
        """The file's bytes, or None when the base64 of a Parquet block is broken."""
        if self.format == "csv":
            return encode_text("\n".join(unescape_line(line) for line in self.body))
        try:
            return base64.b64decode("".join(self.body), validate=True)
        except binascii.Error:
            return None


@dataclass(frozen=True)
class Recovered:
    format: str
    data: bytes
    rows: int
    notes: tuple[str, ...] = ()  # later blocks that were skipped, and why


def _blocks(log_text: str) -> list[Block]:
    blocks: list[Block] = []
    current: Block | None = None
    # Payload lines hold no line break of any kind, so every splitter agrees on them.
    for line in log_text.splitlines():
        position = line.find(PREFIX)
        if position >= 0:
            # A payload line, whatever it contains: marker text inside the data is data.
            if current is not None:
                current.body.append(line[position + len(PREFIX) :])
            continue
        begin = _BEGIN.search(line)
        if begin:
            current = Block(begin.group(1))
            blocks.append(current)
            continue
        end = _END.search(line)
        if end and current is not None and end.group(1) == current.format:
            current.rows, current.sha256 = int(end.group(2)), end.group(3)
            current = None
    return blocks


def recover_block(log_text: str) -> Recovered:
    """The last complete, undamaged result block of a log, checked against its sha256."""
    blocks = _blocks(log_text)
    if not blocks:
        raise RecoverError(
            "no result block found (looked for a line ending in "
            "'----- BEGIN DASKRUN RESULT (csv) -----' or '(parquet)')"
        )
    problems: list[tuple[int, str]] = []
    for number, block in reversed(list(enumerate(blocks, 1))):
        if block.sha256 is None:
            problems.append((number, "is cut off: its end marker is missing"))
            continue
        data = block.payload()
        actual = hashlib.sha256(data or b"").hexdigest()
        if data is None or actual != block.sha256:
            problems.append((number, f"is damaged: sha256 {actual} != {block.sha256} from the log"))
            continue
        assert block.rows is not None
        notes = tuple(f"skipped result block {n} of {len(blocks)}: it {why}" for n, why in problems)
        return Recovered(block.format, data, block.rows, notes)
    if len(blocks) == 1:
        raise RecoverError(f"the result block {problems[0][1]}")
    raise RecoverError(
        f"none of the {len(blocks)} result blocks is intact: " + "; ".join(f"block {n} {why}" for n, why in problems)
    )


def recover(log_text: str) -> str:
    """The CSV text of the last intact result block (see `recover_block` for Parquet)."""
    recovered = recover_block(log_text)
    if recovered.format != "csv":
        raise RecoverError(
            f"the result block holds {recovered.format}, not CSV: "
            "write it to a file with `daskrun recover LOG -o result.parquet`"
        )
    return recovered.data.decode("utf-8", "surrogatepass")
