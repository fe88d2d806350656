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

import io
import string
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskrun.config import Output
from daskrun.output import print_result, serialise, store, to_csv_text
from daskrun.result_block import (
    PREFIX,
    RecoverError,
    block_lines,
    escape_line,
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
    index = draw(st.sampled_from(["range", "named", "multi"]))
    if index == "named":
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
