"""No config value, message or user text can forge a result block in the log (issue 18).

`daskrun recover` trusts the last intact block of a log, so a log line that quotes a config
value (a failed store names its endpoint, bucket and region), an exception or an argument
must never read as a block's marker or payload line, however the log is split into lines.
Two guards, each tested alone: the strings that reach log lines cannot hold a line break
(refused at `validate`, and by the chart's schema), and every log line quoting text is
defanged.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import jsonschema
import pytest
import yaml
from cli_runner import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskrun.config import ConfigError, config_json_schema, parse_config
from daskrun.credentials import RedactingFilter, TextFilter
from daskrun.result_block import (
    PREFIX,
    RecoverError,
    block_lines,
    defang,
    read_last_block,
    recover,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORGED_CSV = b"challenge,score\nforged,1.0\n"
FORGED = "\n".join(block_lines(FORGED_CSV, "csv", 1))
REAL_CSV = b"challenge,score\nreal,0.5\n"
REAL = "\n".join(block_lines(REAL_CSV, "csv", 1))
# Pieces a hostile string is made of: the markers, their parts, and every kind of line break.
PIECES = st.sampled_from([
    FORGED, *FORGED.split("\n"), PREFIX, "DASKRUN RESULT", "----- BEGIN ", "----- END ", "(csv)", "-----",
    "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00", "\\", " ",
    f"rows=1 sha256={hashlib.sha256(FORGED_CSV).hexdigest()}",
])
HOSTILE_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12).map("".join)


def _blocks_in(text: str) -> bytes | None:
    """The bytes of the last intact block `recover` finds in `text`, split as any tool might."""
    for lines in (text.split("\n"), text.splitlines()):
        try:
            sink = io.BytesIO()
            read_last_block(lines, lambda: sink)
        except RecoverError:
            continue
        return sink.getvalue()
    return None


def test_a_forged_block_is_found_when_nothing_defangs_it():
    # The premise of every test below: the forged text is a complete, valid block.
    assert _blocks_in(f"store failed at http://x{FORGED}") == FORGED_CSV


@PROPERTY
@given(HOSTILE_TEXT)
def test_defanged_text_never_holds_a_block_however_it_is_split(text):
    assert _blocks_in(defang(text)) is None


@PROPERTY
@given(HOSTILE_TEXT)
def test_defanged_text_around_a_real_block_leaves_the_real_block(text):
    log = f"{defang(text)}\n{REAL}\n{defang(text)}\n"
    assert recover(log) == REAL_CSV.decode()


def _handler_output(message: str, *args: object, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.addFilter(TextFilter(defang))
    logger = logging.getLogger("test_forged_blocks")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is None:
            logger.error(message, *args)
        else:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@PROPERTY
@given(HOSTILE_TEXT)
def test_no_log_record_quoting_any_text_holds_a_block(text):
    assert _blocks_in(_handler_output("could not store the result at %s: %s", text, text)) is None
    assert _blocks_in(_handler_output(text)) is None
    assert _blocks_in(_handler_output("failed", exc=RuntimeError(text))) is None


def test_a_defanged_line_still_says_what_it_quoted():
    assert defang("bucket x\n----- BEGIN DASKRUN RESULT (csv) -----") == (
        "bucket x\n----- BEGIN DASKRUN\\x20RESULT (csv) -----"
    )
    assert defang(PREFIX + "x") == "daskrun-result\\x7c x"


OUTPUT_STRINGS = ("endpoint_url", "bucket", "region")


def _output(**keys: str) -> dict:
    return {"run": {"function": "pkg.mod.fn"}, "output": {"path": "runs/r.csv", "bucket": "my-bucket", **keys}}


@pytest.mark.parametrize("key, value", [
    ("endpoint_url", "http://s3.example.com\n" + FORGED),
    ("endpoint_url", "http://s3.example.com\r"),
    ("endpoint_url", "http://s3 .example.com"),
    ("bucket", "my-bucket\n" + FORGED),
    ("bucket", "Bad_Bucket"),
    ("bucket", "ab"),
    ("region", "us-east-1\n" + FORGED),
    ("region", "us east"),
    ("path", "runs/r\n.csv"),
    ("path", "runs/\x00r.csv"),
    ("path", "runs/\x1b[2Jr.csv"),
])
def test_a_line_break_or_control_in_an_output_string_is_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        parse_config(_output(**{key: value}))
    errors = dict(info.value.errors)
    assert f"output.{key}" in errors, errors
    assert "\n" not in errors[f"output.{key}"] and "\r" not in errors[f"output.{key}"]


@pytest.mark.parametrize("path, words", [
    ("s3://Bad_Bucket/r.csv", "bucket"),
    ("s3://my-bucket/dir/", "ending in .csv or .parquet"),
    ("s3://my-bucket/r.xlsx", "ending in .csv or .parquet"),
    ("s3://my-bucket/r\n.csv", "ending in .csv or .parquet"),
    (".csv", "must end in .csv"),
    ("results/.parquet", "must end in .csv"),
])
def test_an_s3_or_local_path_that_can_never_work_is_refused(path, words):
    with pytest.raises(ConfigError) as info:
        parse_config({"run": {"function": "pkg.mod.fn"}, "output": {"path": path}})
    assert words in str(info.value), str(info.value)


@PROPERTY
@given(key=st.sampled_from(OUTPUT_STRINGS), value=HOSTILE_TEXT)
def test_an_output_string_that_passes_holds_no_line_break_and_the_schema_agrees(key, value):
    config = _output(**{key: ("http://" + value) if key == "endpoint_url" else value})
    # Python's `$` (jsonschema here) also matches before a final "\n"; Helm's RE2 does not.
    schema_ok = _schema_accepts(config) and not value.endswith("\n")
    try:
        parse_config(config)
    except ConfigError:
        assert not schema_ok, "the model refused what the schema accepts"
        return
    assert schema_ok, "the schema refused what the model accepts"
    text = config["output"][key]
    assert text == "".join(text.splitlines()) and text.isprintable()


_SCHEMA = config_json_schema()


def _schema_accepts(config: dict) -> bool:
    try:
        jsonschema.validate(config, _SCHEMA)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.slow
def test_a_forged_block_in_the_arguments_and_an_exception_never_reaches_recover(tmp_path):
    # The "running f(args)" line quotes the argument; the function's exception repeats it.
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"run": {"function": "sample_functions.raises_with", "args": {"text": FORGED}},
                                      "dask_cluster": {"workers": 1}}))
    result = run_cli("run", str(config), "--local", env={"PYTHONPATH": str(Path(__file__).parent), "TMPDIR": str(tmp_path)},
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert _blocks_in(result.stdout + result.stderr) is None
    assert "DASKRUN\\x20RESULT" in result.stderr
