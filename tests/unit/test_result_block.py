"""The log fallback keeps any result exactly: property tests over hostile DataFrames.

What each format holds (and what these tests check):
- Parquet holds the whole DataFrame (datetimes in ns here: Parquet has no second
  resolution, datetime64[s] comes back as [ms] with the same values): dtypes, tz-aware datetimes, timedeltas, categoricals,
  MultiIndex rows and columns, index names, None/NaN/NaT, int64 extremes, any Unicode text
  (but the categories of a 0-row categorical column are lost).
- CSV holds the text of every label and cell (any Unicode, every line break, a bare \\r
  quoted), float values exactly (repr), index names and MultiIndex rows/columns when read
  with index_col/header (pandas' reader renames repeated header names, 'a' -> 'a.1').
  It does not hold dtypes (all come back as inferred text or numbers)
  and cannot tell a missing value from an empty string: both are an empty field.
- The log block holds the exact bytes of either file, whatever they contain.
"""

import base64
import contextlib
import csv
import hashlib
import codecs
import io
import re
import string
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daskrun import output, result_block
from daskrun.config import Output
from daskrun.output import print_result, serialise, store, to_csv_text
from daskrun.result_block import (
    PREFIX,
    Recovered,
    RecoverError,
    block_lines,
    escape_line,
    escape_lines,
    log_encoding,
    log_lines,
    read_last_block,
    recover,
    recover_block,
    unescape_line,
)

# Every character str.splitlines() breaks at, and other controls logs mangle.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
HOSTILE = LINE_BREAKS + "\x00\t\x1b\x7f\ufeff\\\"',;|" + PREFIX + "----- END DASKRUN RESULT (csv) rows=1 -----"

INT64 = st.integers(min_value=np.iinfo(np.int64).min, max_value=np.iinfo(np.int64).max)
TEXT = st.text(st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(HOSTILE)), max_size=12)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def columns(draw, rows: int):
    """One column of a kind the issue lists, `rows` long."""
    kind = draw(st.sampled_from(["int", "float", "text", "bool", "datetime_tz", "timedelta", "category"]))
    if kind == "int":
        return pd.Series(draw(st.lists(INT64, min_size=rows, max_size=rows)), dtype="int64")
    if kind == "float":
        return pd.Series(draw(st.lists(st.floats(), min_size=rows, max_size=rows)), dtype="float64")
    if kind == "text":
        # The dtype pandas infers (str in pandas 3), as a user's function would produce it.
        return pd.Series(draw(st.lists(st.one_of(st.none(), TEXT), min_size=rows, max_size=rows)))
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=bool)
    nanos = st.one_of(st.none(), st.integers(-(2**62), 2**62))
    values = draw(st.lists(nanos, min_size=rows, max_size=rows))
    if kind == "datetime_tz":
        zone = draw(st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]))
        stamps = pd.to_datetime([pd.NaT if v is None else v for v in values], unit="ns", utc=True)
        return pd.Series(stamps.astype("datetime64[ns, UTC]").tz_convert(zone))
    if kind == "timedelta":
        deltas = pd.to_timedelta([pd.NaT if v is None else v for v in values], unit="ns")
        return pd.Series(deltas.astype("timedelta64[ns]"))
    labels = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
    picks = draw(st.lists(st.one_of(st.none(), st.sampled_from(labels)), min_size=rows, max_size=rows))
    return pd.Series(pd.Categorical(picks, categories=labels))


@st.composite
def frames(draw, max_rows: int = 8):
    rows = draw(st.integers(0, max_rows))
    width = draw(st.integers(1, 4))
    names = draw(st.lists(TEXT, min_size=width, max_size=width, unique=True))
    data = {name: draw(columns(rows)).reset_index(drop=True) for name in names}
    df = pd.DataFrame(data)
    if draw(st.booleans()):
        second = draw(st.lists(TEXT, min_size=width, max_size=width))
        df.columns = pd.MultiIndex.from_arrays([names, second], names=[draw(TEXT), draw(TEXT)])
    index = draw(st.sampled_from(["range", "sliced", "named", "multi"]))
    if index == "sliced":  # what df.iloc[start::step] leaves, maybe named
        start, step = draw(st.integers(0, 5)), draw(st.integers(1, 3))
        df.index = pd.RangeIndex(start, start + step * rows, step, name=draw(st.one_of(st.none(), TEXT)))
    elif index == "named":
        df.index = pd.Index(draw(st.lists(TEXT, min_size=rows, max_size=rows)), name=draw(TEXT))
    elif index == "multi":
        df.index = pd.MultiIndex.from_arrays(
            [pd.Index(draw(st.lists(TEXT, min_size=rows, max_size=rows))),
             pd.Index(draw(st.lists(INT64, min_size=rows, max_size=rows)), dtype="int64")],
            names=[draw(TEXT), draw(TEXT)],
        )
    return df


def assert_parquet_holds(back: pd.DataFrame, df: pd.DataFrame) -> None:
    if len(df) == 0:
        # A Parquet file of 0 rows keeps no categories (its dictionary is empty).
        for position, dtype in enumerate(df.dtypes):
            if isinstance(dtype, pd.CategoricalDtype):
                assert isinstance(back.dtypes.iloc[position], pd.CategoricalDtype)
                back.isetitem(position, back.iloc[:, position].astype(dtype))
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def _through_a_log(df: pd.DataFrame, fmt: str, foreign: list[str], stamp: bool) -> str:
    """The log `kubectl logs [--timestamps]` would show: other lines in and around the block."""
    buffer = io.StringIO()
    print_result(df, buffer, fmt)
    lines = buffer.getvalue().split("\n")[:-1]
    for offset, line in enumerate(foreign):
        lines.insert((offset * 7919) % (len(lines) + 1), line)
    if stamp:
        lines = [f"2026-11-28T18:00:{i % 60:02d}.123456789Z {line}" for i, line in enumerate(lines)]
    return "\n".join(lines) + "\n"


FOREIGN = st.lists(TEXT.map(lambda t: "INFO distributed.worker: " + t.replace(PREFIX, "")), max_size=3)


@PROPERTY
@given(df=frames(), foreign=FOREIGN, stamp=st.booleans())
def test_any_frame_round_trips_through_the_log_as_csv(df, foreign, stamp):
    recovered = recover_block(_through_a_log(df, "csv", foreign, stamp))
    assert recovered.format == "csv" and recovered.rows == len(df)
    assert recovered.data == serialise(df, "csv")


@PROPERTY
@given(df=frames(), foreign=FOREIGN, stamp=st.booleans())
def test_any_frame_round_trips_exactly_through_the_log_as_parquet(df, foreign, stamp):
    recovered = recover_block(_through_a_log(df, "parquet", foreign, stamp))
    assert recovered.format == "parquet" and recovered.data == serialise(df, "parquet")
    assert_parquet_holds(pd.read_parquet(io.BytesIO(recovered.data)), df)


@PROPERTY
@given(df=frames())
def test_any_frame_round_trips_exactly_through_a_parquet_file(df, tmp_path_factory):
    path = tmp_path_factory.mktemp("parquet") / "r.parquet"
    store(df, Output(path=str(path)))
    assert_parquet_holds(pd.read_parquet(path), df)


def _cells(draw_text):
    return st.one_of(st.none(), draw_text.filter(bool))


@PROPERTY
@given(data=st.data())
def test_csv_file_holds_the_text_of_every_cell_and_label(data, tmp_path_factory):
    rows = data.draw(st.integers(0, 6))
    # pandas' reader renames a repeated header ('a', 'a.1'): names unique, the index's included.
    *names, index_name = data.draw(st.lists(TEXT.filter(bool), min_size=2, max_size=4, unique=True))
    df = pd.DataFrame(
        {name: data.draw(st.lists(_cells(TEXT), min_size=rows, max_size=rows)) for name in names},
        index=pd.Index(data.draw(st.lists(TEXT.filter(bool), min_size=rows, max_size=rows)),
                       name=index_name, dtype=object),
        dtype=object,
    )
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    store(df, Output(path=str(path)))
    # dtype= does not reach an index_col, so the index is set after reading.
    back = pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""])
    back = back.set_index(back.columns[0])
    expected = df.fillna(np.nan)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, check_index_type=False,
                                  check_column_type=False)


@PROPERTY
@given(ints=st.lists(INT64, min_size=1, max_size=6), data=st.data())
def test_csv_file_holds_int64_extremes_and_floats_exactly(ints, data, tmp_path_factory):
    floats = data.draw(st.lists(st.floats(allow_nan=False), min_size=len(ints), max_size=len(ints)))
    df = pd.DataFrame({"i": pd.Series(ints, dtype="int64"), "f": pd.Series(floats, dtype="float64")})
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    store(df, Output(path=str(path)))
    pd.testing.assert_frame_equal(pd.read_csv(path), df, check_exact=True)


def test_csv_cannot_tell_a_missing_value_from_an_empty_string():
    assert to_csv_text(pd.DataFrame({"a": ["", "x"]})) == to_csv_text(pd.DataFrame({"a": [None, "x"]}))


def test_csv_does_not_hold_dtypes(tmp_path):
    df = pd.DataFrame({
        "when": pd.to_datetime(["2026-01-01 12:00"]).tz_localize("Europe/Berlin"),
        "took": pd.to_timedelta(["1h"]),
        "kind": pd.Categorical(["a"]),
    })
    path = tmp_path / "r.csv"
    store(df, Output(path=str(path)))
    back = pd.read_csv(path)
    assert not any(isinstance(t, (pd.DatetimeTZDtype, pd.CategoricalDtype)) for t in back.dtypes)
    assert back.iloc[0].tolist() == ["2026-01-01 12:00:00+01:00", "0 days 01:00:00", "a"]


def test_csv_quotes_a_bare_carriage_return_so_no_row_is_added(tmp_path):
    df = pd.DataFrame({"a": ["x\ry", "z"], "b": [1, 2]})
    path = tmp_path / "r.csv"
    store(df, Output(path=str(path)))
    back = pd.read_csv(path)
    assert back["a"].tolist() == ["x\ry", "z"] and back["b"].tolist() == [1, 2]


def test_csv_without_carriage_return_keeps_minimal_quoting():
    assert to_csv_text(pd.DataFrame({"a": ["x", "y\nz"]})) == 'a\nx\n"y\nz"\n'


@pytest.mark.parametrize("char", list(LINE_BREAKS + "\x00\x1b\x7f\x9f\ufeff\ud800\udfff\\"))
def test_every_unsafe_character_is_escaped_and_comes_back(char):
    line = escape_line(f"a{char}b")
    assert line.splitlines() == [line] and char not in line.replace("\\\\", "")
    assert unescape_line(line) == f"a{char}b"


@PROPERTY
@given(text=st.text(st.characters(codec=None)), ascii_only=st.booleans())
def test_escaping_is_line_safe_and_reversible(text, ascii_only):
    text = text.replace("\n", "")
    line = escape_line(text, ascii_only)
    assert len(line.splitlines()) <= 1
    if ascii_only:
        assert line.isascii()
    assert unescape_line(line) == text


def test_lone_surrogates_in_a_cell_survive_the_log(tmp_path):
    # object: pandas 3's str dtype (Arrow) refuses lone surrogates, Python strings hold them.
    df = pd.DataFrame({"a": ["\ud800x", "y\udfff"]}, dtype=object)
    recovered = recover_block(_through_a_log(df, "csv", [], True))
    assert recovered.data == serialise(df, "csv")


def test_a_stream_that_cannot_encode_unicode_gets_ascii_escapes():
    df = pd.DataFrame({"a": ["größe 😀", "\u2028"]})
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    print_result(df, stream)
    log = raw.getvalue().decode("ascii")
    assert recover(log) == to_csv_text(df)


def test_parquet_that_cannot_be_written_falls_back_to_csv():
    df = pd.DataFrame({"mixed": [1, "a", 2.5]})  # an object column Parquet refuses
    buffer = io.StringIO()
    print_result(df, buffer, "parquet")
    assert recover(buffer.getvalue()) == to_csv_text(df)


def test_a_complete_block_followed_by_a_cut_one_is_used():
    first, second = pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})
    complete, cut = io.StringIO(), io.StringIO()
    print_result(first, complete)
    print_result(second, cut)
    log = complete.getvalue() + cut.getvalue().rsplit("\n", 2)[0] + "\n"
    recovered = recover_block(log)
    assert recovered.data == serialise(first, "csv")
    assert recovered.notes == ("skipped result block 2 of 2: it is cut off: its end marker is missing",)


def test_the_last_of_two_complete_blocks_is_used():
    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": [1]}), buffer)
    print_result(pd.DataFrame({"a": [2]}), buffer)
    assert recover(buffer.getvalue()) == "a\n2\n"


def test_marker_text_inside_the_data_is_data():
    df = pd.DataFrame({"a": ["----- BEGIN DASKRUN RESULT (csv) -----",
                             "----- END DASKRUN RESULT (csv) rows=1 sha256=" + "0" * 64 + " -----"]})
    buffer = io.StringIO()
    print_result(df, buffer)
    assert recover(buffer.getvalue()) == to_csv_text(df)


def test_damaged_parquet_base64_is_refused():
    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": [1, 2]}), buffer, "parquet")
    lines = buffer.getvalue().split("\n")
    lines[1] = lines[1][:-4] + "!!!!"
    with pytest.raises(RecoverError, match="damaged"):
        recover_block("\n".join(lines))


def test_several_broken_blocks_are_each_named():
    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": [1]}), buffer)
    damaged = buffer.getvalue().replace(PREFIX + "1", PREFIX + "7")
    with pytest.raises(RecoverError, match="none of the 2 result blocks is intact: block 2 is cut off"):
        recover(damaged + damaged.rsplit("\n", 2)[0])


def test_recover_text_of_a_parquet_block_points_to_o():
    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": [1]}), buffer, "parquet")
    with pytest.raises(RecoverError, match="-o result.parquet"):
        recover(buffer.getvalue())


def test_unknown_format_is_a_programming_error():
    with pytest.raises(ValueError):
        block_lines(b"", "xlsx", 0)


@pytest.mark.slow
def test_a_million_rows_round_trip_through_the_log():
    rng = np.random.default_rng(8)
    n = 10**6
    df = pd.DataFrame({
        "i": rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64),
        "f": rng.standard_normal(n),
        "s": pd.Series(rng.choice(list(string.ascii_letters) + list(LINE_BREAKS), n)),
    }, index=pd.Index(np.arange(n), name="row"))
    started = time.perf_counter()
    recovered = recover_block(_through_a_log(df, "csv", ["INFO something else"], True))
    print(f"\n10^6 rows through the log as CSV: {time.perf_counter() - started:.1f} s")
    assert recovered.rows == n and recovered.data == serialise(df, "csv")
    started = time.perf_counter()
    back = recover_block(_through_a_log(df, "parquet", [], False))
    print(f"10^6 rows through the log as Parquet: {time.perf_counter() - started:.1f} s")
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(back.data)), df, check_exact=True)


# --- Streaming (issue 13): the block is printed while the file is written, and read line by
# line. The references below are the format as first written, from the whole file at once;
# the streamed block and the streamed reading must agree with them exactly.


def reference_csv_text(df: pd.DataFrame) -> str:
    """to_csv_text as first written: the whole text, written again quoted when it holds a \\r."""
    keep_index = output.keeps_index(df)
    text = df.to_csv(index=keep_index, lineterminator="\n")
    if "\r" in text:
        text = df.to_csv(index=keep_index, lineterminator="\n", quoting=csv.QUOTE_ALL)
    return text


def reference_block_lines(payload: bytes, fmt: str, rows: int, ascii_only: bool) -> list[str]:
    """The block as a whole file makes it; `rows` is the frame's, the counts the file's (a CSV
    reader's records, a Parquet footer's rows)."""
    if fmt == "csv":
        text = payload.decode("utf-8", "surrogatepass")
        body = [escape_line(piece, ascii_only) for piece in text.split("\n")]
        counts = f"rows={rows} header={len(list(csv.reader(io.StringIO(text, newline='')))) - rows}"
    else:
        encoded = base64.b64encode(payload).decode("ascii")
        body = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
        counts = f"rows={pq.read_metadata(io.BytesIO(payload)).num_rows}"
    return ([f"----- BEGIN DASKRUN RESULT ({fmt}) -----"] + [PREFIX + line for line in body]
            + [f"----- END DASKRUN RESULT ({fmt}) {counts} sha256={hashlib.sha256(payload).hexdigest()} -----"])


def reference_recover(log_text: str) -> tuple:
    """`recover_block` as first written: the whole log split with str.splitlines, each block's
    payload decoded at once; ("ok", format, data, rows, notes) or ("error", message)."""
    blocks, current = [], None
    for line in log_text.splitlines():
        position = line.find(PREFIX)
        if position >= 0:
            if current is not None:
                current["body"].append(line[position + len(PREFIX):])
            continue
        begin = re.search(r"----- BEGIN DASKRUN RESULT \((csv|parquet)\) -----$", line)
        if begin:
            current = {"format": begin.group(1), "body": [], "sha256": None}
            blocks.append(current)
            continue
        end = re.search(r"----- END DASKRUN RESULT \((csv|parquet)\) rows=(\d+)(?: header=\d+)? sha256=([0-9a-f]{64}) -----$", line)
        if end and current is not None and end.group(1) == current["format"]:
            current["rows"], current["sha256"] = int(end.group(2)), end.group(3)
            current = None
    if not blocks:
        return ("error", "no result block")
    problems = []
    for number, block in reversed(list(enumerate(blocks, 1))):
        if block["sha256"] is None:
            problems.append((number, "is cut off: its end marker is missing"))
            continue
        if block["format"] == "csv":
            data = "\n".join(unescape_line(line) for line in block["body"]).encode("utf-8", "surrogatepass")
        else:
            try:
                data = base64.b64decode("".join(block["body"]), validate=True)
            except ValueError:  # the first version let a non-ASCII character's ValueError escape
                data = None
        actual = hashlib.sha256(data or b"").hexdigest()
        if data is None or actual != block["sha256"]:
            problems.append((number, f"is damaged: sha256 {actual} != {block['sha256']} from the log"))
            continue
        notes = tuple(f"skipped result block {n} of {len(blocks)}: it {why}" for n, why in problems)
        return ("ok", block["format"], data, block["rows"], notes)
    if len(blocks) == 1:
        return ("error", f"the result block {problems[0][1]}")
    return ("error", f"none of the {len(blocks)} result blocks is intact: "
            + "; ".join(f"block {n} {why}" for n, why in problems))


@contextlib.contextmanager
def batches_of(size: int):
    """Stream in batches of `size` characters (bytes for Parquet), so that every boundary
    a batch can end at is tried on small frames."""
    saved = result_block._BATCH_CHARS, output._CHUNK
    result_block._BATCH_CHARS = output._CHUNK = size
    try:
        yield
    finally:
        result_block._BATCH_CHARS, output._CHUNK = saved


BATCH = st.integers(1, 200)


@PROPERTY
@given(df=frames())
def test_csv_quoting_decided_before_writing_is_what_the_whole_text_needed(df):
    assert to_csv_text(df) == reference_csv_text(df)
    assert serialise(df, "csv") == reference_csv_text(df).encode("utf-8", "surrogatepass")


@PROPERTY
@given(cells=st.lists(st.one_of(st.none(), TEXT), min_size=1, max_size=6), where=st.integers(0, 5))
def test_a_carriage_return_in_any_kind_of_text_column_quotes_every_field(cells, where):
    cells[where % len(cells)] = "a\rb"
    for dtype in ("str", object, "category", "string"):
        df = pd.DataFrame({"n": range(len(cells)), "t": pd.Series(cells, dtype=dtype)})
        assert to_csv_text(df) == reference_csv_text(df) and to_csv_text(df).startswith('"n","t"\n')


@PROPERTY
@given(df=frames(), fmt=st.sampled_from(["csv", "parquet"]), batch=BATCH, ascii_stream=st.booleans())
def test_the_block_printed_while_writing_is_the_block_of_the_whole_file(df, fmt, batch, ascii_stream):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii" if ascii_stream else "utf-8", newline="")
    with batches_of(batch):
        print_result(df, stream, fmt)
    printed = raw.getvalue().decode("utf-8").split("\n")[:-1]
    assert printed == reference_block_lines(serialise(df, fmt), fmt, len(df), ascii_stream)
    payload = serialise(df, fmt)
    rows = len(df) if fmt == "csv" else pq.read_metadata(io.BytesIO(payload)).num_rows
    assert block_lines(payload, fmt, rows, stream.encoding, header=output.header_lines(df)) == printed


@PROPERTY
@given(text=st.text(st.one_of(st.characters(codec=None), st.sampled_from(LINE_BREAKS))), ascii_only=st.booleans())
def test_escaping_many_lines_at_once_escapes_each(text, ascii_only):
    assert escape_lines(text, ascii_only) == "\n".join(escape_line(p, ascii_only) for p in text.split("\n"))


@st.composite
def logs(draw):
    """A log of 0 to 3 blocks, each maybe cut off or damaged, with other lines in it, as bytes:
    maybe CRLF line ends, timestamps, bytes that are not UTF-8."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        buffer = io.StringIO()
        print_result(draw(frames(max_rows=3)), buffer, draw(st.sampled_from(["csv", "parquet"])))
        block = buffer.getvalue().split("\n")[:-1]
        harm = draw(st.sampled_from(["none", "none", "cut", "edit", "drop", "repeat", "pad"]))
        line = draw(st.integers(1, max(1, len(block) - 2)))
        if harm == "cut":
            block = block[:-1]
        elif harm == "edit" and len(block) > 2:
            block[line] = PREFIX + draw(TEXT).replace("\n", "")
        elif harm == "drop" and len(block) > 2:
            del block[line]
        elif harm == "repeat" and len(block) > 2:
            block.insert(line, block[line])
        elif harm == "pad" and len(block) > 2:
            block[line] = block[line][:-1] + "="
        lines += block
    for foreign in draw(FOREIGN):
        lines.insert(draw(st.integers(0, len(lines))), foreign)
    if draw(st.booleans()):
        lines = [f"2026-11-28T18:00:{i % 60:02d}.123456789Z {line}" for i, line in enumerate(lines)]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = "".join(line + end for line in lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xff\xfe not UTF-8 \xc3\n" + data
    return data


def _outcome(read) -> tuple:
    try:
        found = read()
    except RecoverError as exc:
        return ("error", str(exc))
    return ("ok", found.format, found.data, found.rows, found.notes)


@PROPERTY
@given(log=logs(), batch=BATCH)
def test_reading_a_log_line_by_line_finds_what_reading_it_whole_found(log, batch):
    assume(log_encoding(log[:4]) == "utf-8")  # UTF-16 logs: test_a_utf16_log_is_recovered
    expected = reference_recover(log.decode("utf-8", "replace"))

    def line_by_line():
        found = read_last_block(log_lines(io.BytesIO(log)), io.BytesIO)
        return Recovered(found.format, found.sink.getvalue(), found.rows, found.notes)

    with batches_of(batch):
        for read in (lambda: recover_block(log.decode("utf-8", "replace")), line_by_line):
            outcome = _outcome(read)
            if expected[0] == "error" and expected[1] == "no result block":
                assert outcome[0] == "error" and outcome[1].startswith("no result block found")
            else:
                assert outcome == expected


def _parquet_block_with(body_edit) -> str:
    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": range(50)}), buffer, "parquet")
    lines = buffer.getvalue().split("\n")
    lines[1:-2] = body_edit(lines[1:-2])
    return "\n".join(lines)


@pytest.mark.parametrize("batch", [4, 5, 76, 1 << 20])
def test_base64_padding_inside_a_parquet_payload_is_damage_wherever_a_batch_ends(batch):
    # "QQ==" decodes alone; after it, more data is an error, as in one strict decode.
    log = _parquet_block_with(lambda body: [body[0][:72] + "QQ==", *body[1:]])
    with batches_of(batch), pytest.raises(RecoverError, match="damaged"):
        recover_block(log)


def test_a_non_ascii_character_in_a_parquet_payload_is_damage_not_a_crash():
    # The first version let base64's ValueError through: a traceback instead of the reason.
    log = _parquet_block_with(lambda body: [body[0][:-1] + "\ufffd", *body[1:]])
    with pytest.raises(RecoverError, match="the result block is damaged"):
        recover_block(log)


class _Recording(io.TextIOBase):
    """A log stream that keeps only how much each write carried."""

    encoding = "utf-8"

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.sizes.append(len(text))
        return len(text)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_log_gets_the_block_a_batch_at_a_time_never_whole(fmt):
    rng = np.random.default_rng(13)
    n = 200_000
    df = pd.DataFrame({"x": rng.standard_normal(n), "s": pd.Series(np.arange(n)).map("row {}\n,".format)})
    stream = _Recording()
    print_result(df, stream, fmt)
    batch = result_block._BATCH_CHARS
    assert sum(stream.sizes) > 4 * batch
    # A batch of text, its escapes (4 characters for a \n in a cell) and line prefixes.
    assert max(stream.sizes) < 3 * batch


# --- Row labels (issue 18): a RangeIndex other than the unnamed 0..n-1 is information.


@pytest.mark.parametrize("cut", [slice(5, None), slice(None, None, 3), slice(2, 9, 2)])
def test_csv_keeps_the_row_labels_of_a_sliced_frame_in_the_file_and_the_log(cut, tmp_path):
    df = pd.DataFrame({"x": range(10), "y": list("abcdefghij")}).iloc[cut]
    path = tmp_path / "r.csv"
    store(df, Output(path=str(path)))
    back = pd.read_csv(path, index_col=0)
    assert list(back.index) == list(df.index) and list(back["y"]) == list(df["y"])
    assert recover_block(_through_a_log(df, "csv", [], False)).data == path.read_bytes()


def test_csv_keeps_a_named_range_index():
    df = pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(2, name="trial"))
    assert to_csv_text(df) == "trial,x\n0,1\n1,2\n"
    assert to_csv_text(pd.DataFrame({"x": [1, 2]})) == "x\n1\n2\n"


@PROPERTY
@given(start=st.integers(-3, 10**6), step=st.integers(-4, 4).filter(bool), rows=st.integers(0, 5),
       name=st.one_of(st.none(), TEXT.filter(bool)))
def test_any_range_index_reads_back_as_the_same_labels(start, step, rows, name):
    df = pd.DataFrame({"v": range(rows)}, index=pd.RangeIndex(start, start + step * rows, step, name=name))
    text = to_csv_text(df)
    if output.keeps_index(df):
        back = pd.read_csv(io.StringIO(text), index_col=0)
        assert list(back.index) == list(df.index)
    else:
        assert list(pd.read_csv(io.StringIO(text)).index) == list(df.index)


def _a_block_in_a_log(text_around: str = "") -> tuple[str, bytes]:
    csv = b"challenge,score\nreal,0.5\n"
    return "\n".join(["2026-12-02 starting", *block_lines(csv, "csv", 1), text_around]) + "\n", csv


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_log_is_recovered(encoding):
    # PowerShell's `kubectl logs ... > run.log` writes UTF-16 with a byte order mark.
    log, csv = _a_block_in_a_log()
    data = log.encode(encoding)
    if encoding != "utf-16":
        data = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + data
    sink = io.BytesIO()
    read_last_block(log_lines(io.BytesIO(data)), lambda: sink)
    assert sink.getvalue() == csv


def test_marker_lines_with_colour_codes_or_stripped_spaces_still_read():
    log, csv = _a_block_in_a_log()
    coloured = "\n".join(f"\x1b[32m{line}\x1b[0m  " if "DASKRUN RESULT" in line
                         else f"\x1b[2m{line}\x1b[0m" if PREFIX in line else line for line in log.split("\n"))
    assert recover(coloured) == csv.decode()


# What Parquet changes, as README says (each is pyarrow's doing; the test keeps README true).
def _parquet_round_trip(df: pd.DataFrame) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(serialise(df, "parquet")))


def test_parquet_gives_dicts_back_as_records_with_every_key():
    back = _parquet_round_trip(pd.DataFrame({"a": [{"x": 1}, {"y": 2}]}))
    assert back["a"].tolist() == [{"x": 1.0, "y": None}, {"x": None, "y": 2.0}]


def test_parquet_gives_timestamps_of_several_zones_back_as_one_utc_column():
    stamps = [pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-01-01", tz="Europe/Paris")]
    back = _parquet_round_trip(pd.DataFrame({"a": stamps}, dtype=object))
    assert str(back["a"].dtype).endswith(", UTC]") and back["a"].tolist() == [s.tz_convert("UTC") for s in stamps]


def test_parquet_gives_pd_na_in_an_object_column_back_as_a_string_column_with_nan():
    back = _parquet_round_trip(pd.DataFrame({"a": ["x", pd.NA]}, dtype=object))
    assert isinstance(back["a"].dtype, pd.StringDtype) and back["a"].iloc[0] == "x" and pd.isna(back["a"].iloc[1])


def test_parquet_gives_seconds_back_as_milliseconds_with_the_same_values():
    seconds = pd.DataFrame({"a": pd.Series(pd.to_datetime(["2020-01-01 12:00:01"])).astype("datetime64[s]")})
    back = _parquet_round_trip(seconds)
    assert back["a"].dtype == "datetime64[ms]" and back["a"].tolist() == seconds["a"].tolist()


# The end marker's counts are checked (issue 18: `rows=` was taken on trust).


def _end_line_changed(log: str, change) -> str:
    """`log` with the counts of its (last) end marker rewritten by `change(rows, header)`."""
    def rewrite(match: re.Match) -> str:
        rows, header = change(int(match.group(1)), None if match.group(2) is None else int(match.group(2)))
        counts = f"rows={rows}" if header is None else f"rows={rows} header={header}"
        return f"{counts} sha256="
    return re.sub(r"rows=(\d+)(?: header=(\d+))? sha256=", rewrite, log)


def _printed(df: pd.DataFrame, fmt: str) -> str:
    buffer = io.StringIO()
    print_result(df, buffer, fmt)
    return buffer.getvalue()


TABLE = pd.DataFrame({"challenge": ["a", "b\nc", 'd"e'], "score": [1.0, 2.5, 3.0]})


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda rows, header: (rows + 1, header), "has 4 CSV records, not the 4 rows and 1 header line(s)"),
        (lambda rows, header: (rows - 1, header), "has 4 CSV records, not the 2 rows and 1 header line(s)"),
        (lambda rows, header: (rows, header + 1), "has 4 CSV records, not the 3 rows and 2 header line(s)"),
        (lambda rows, header: (rows, header - 1), "has 4 CSV records, not the 3 rows and 0 header line(s)"),
    ],
)
def test_a_csv_block_whose_counts_do_not_match_its_records_is_damaged(change, says):
    log = _printed(TABLE, "csv")
    assert "rows=3 header=1 sha256=" in log  # quoted line ends inside a cell are no records
    with pytest.raises(RecoverError, match=re.escape(f"the result block is damaged: it {says}")):
        recover_block(_end_line_changed(log, change))


def test_a_parquet_block_whose_rows_are_not_its_footers_is_damaged():
    log = _end_line_changed(_printed(TABLE, "parquet"), lambda rows, header: (rows + 5, header))
    with pytest.raises(RecoverError, match="holds a Parquet file of 3 rows, not the 8 its end marker says"):
        recover_block(log)


def test_a_block_with_wrong_counts_gives_way_to_the_intact_one_before_it():
    earlier = _printed(TABLE.iloc[:1], "csv")
    later = _end_line_changed(_printed(TABLE, "csv"), lambda rows, header: (rows * 10, header))
    recovered = recover_block(earlier + later)
    assert recovered.rows == 1 and recovered.data == serialise(TABLE.iloc[:1], "csv")
    assert recovered.notes == ("skipped result block 2 of 2: it is damaged: it has 4 CSV records, "
                               "not the 30 rows and 1 header line(s) its end marker says",)


def test_a_csv_block_of_a_version_before_header_counts_is_recovered_as_written():
    log = _end_line_changed(_printed(TABLE, "csv"), lambda rows, header: (rows, None))
    assert "rows=3 sha256=" in log
    assert recover_block(log).data == serialise(TABLE, "csv")


def test_a_parquet_block_that_is_no_parquet_file_is_damaged():
    log = "\n".join(block_lines(b"not a parquet file at all", "parquet", 1)) + "\n"
    with pytest.raises(RecoverError, match="is not a Parquet file: its bytes do not end in a Parquet footer"):
        recover_block(log)


def test_a_frame_without_columns_is_a_parquet_block_of_the_rows_the_file_holds():
    df = pd.DataFrame(index=range(3))  # Parquet keeps no rows of it (README)
    recovered = recover_block(_printed(df, "parquet"))
    assert recovered.rows == 0 == len(pd.read_parquet(io.BytesIO(recovered.data)))


@pytest.mark.parametrize("index_names", [None, "i", 0, "", ("i", "j"), ("", ""), ("", "j")])
def test_every_header_shape_pandas_writes_is_counted(index_names):
    columns = pd.MultiIndex.from_tuples([("a", "x"), ("a", "y\nz"), ("b", "x")], names=["top", None])
    for df in (pd.DataFrame([[1, 2, 3]] * 4, columns=columns), pd.DataFrame([[1, 2, 3]] * 4, columns=list("abc"))):
        if isinstance(index_names, tuple):
            df.index = pd.MultiIndex.from_tuples([(n, -n) for n in range(4)], names=index_names)
        else:
            df.index.name = index_names
        recovered = recover_block(_printed(df, "csv"))
        text = recovered.data.decode()
        assert recovered.rows == 4 and output.header_lines(df) == len(list(csv.reader(io.StringIO(text)))) - 4


@PROPERTY
@given(df=frames(), fmt=st.sampled_from(["csv", "parquet"]), wrong=st.integers(0, 10**6))
def test_any_changed_count_of_any_frame_is_found(df, fmt, wrong):
    log = _printed(df, fmt)
    rows = recover_block(log).rows
    assume(wrong != rows)
    with pytest.raises(RecoverError, match="is damaged: it "):
        recover_block(_end_line_changed(log, lambda _, header: (wrong, header)))


@PROPERTY
@given(df=frames(), cuts=st.lists(st.integers(0, 10**4), max_size=6))
def test_csv_records_counted_piece_by_piece_are_a_csv_readers(df, cuts):
    data = serialise(df, "csv")
    counter = result_block.CsvRecords()
    start = 0
    for cut in sorted(cut % (len(data) + 1) for cut in cuts):
        counter.add(data[start:cut])
        start = max(start, cut)
    counter.add(data[start:])
    text = data.decode("utf-8", "surrogatepass")
    assert counter.count() == len(list(csv.reader(io.StringIO(text, newline=""))))
