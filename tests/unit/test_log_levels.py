"""The default log is daskrun's (and the user's code's); Dask's and Kubernetes' INFO only with -v;
their warnings and errors always. Real local runs, as `daskrun run --local` prints them."""

import json
import logging
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_runner import run_cli
from daskrun import log_levels
from daskrun.log_levels import DASK_AND_KUBERNETES, HTTP_CLIENTS, LibraryChatter

HERE = os.path.dirname(__file__)
LEVELS = st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL])
PART = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
NAMES = st.lists(PART, min_size=1, max_size=4).map(".".join)
# A line of the log format: time, level, logger.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) +(?P<logger>[\w.]+): ", re.M)


def within(families, suffix):
    return st.tuples(st.sampled_from(families), suffix).map(lambda t: ".".join(filter(None, t)))


SUFFIX = st.one_of(st.just(""), NAMES)


def outside(name):
    return not any(name == f or name.startswith(f + ".") for f in DASK_AND_KUBERNETES + HTTP_CLIENTS)


def shown(name, level, verbose):
    return LibraryChatter(verbose).filter(logging.LogRecord(name, level, __file__, 1, "m", None, None))


@given(within(DASK_AND_KUBERNETES, SUFFIX), LEVELS)
def test_dask_and_kubernetes_show_info_only_with_verbose_and_warnings_always(name, level):
    assert shown(name, level, verbose=False) == (level >= logging.WARNING)
    assert shown(name, level, verbose=True) == (level >= logging.INFO)


@given(within(HTTP_CLIENTS, SUFFIX), LEVELS, st.booleans())
def test_http_clients_show_warnings_and_above_whatever_the_verbosity(name, level, verbose):
    assert shown(name, level, verbose) == (level >= logging.WARNING)


@given(NAMES.filter(outside), LEVELS)
def test_any_other_logger_daskrun_or_the_users_own_shows_info_and_debug_with_verbose(name, level):
    assert shown(name, level, verbose=False) == (level >= logging.INFO)
    assert shown(name, level, verbose=True)


@given(st.sampled_from(DASK_AND_KUBERNETES + HTTP_CLIENTS), PART)
def test_a_name_that_only_begins_like_a_library_is_not_that_library(family, tail):
    """`kopfish` is a user's module, not kopf."""
    assert shown(family + tail.lstrip("_") + "x", logging.INFO, verbose=False)


@given(st.lists(st.booleans(), min_size=1, max_size=5))
def test_configured_again_one_filter_per_handler_of_the_last_verbosity(calls):
    handler = logging.NullHandler()
    root = logging.getLogger()
    saved = root.level
    try:
        for verbose in calls:
            log_levels.apply([handler], verbose)
        [kept] = [f for f in handler.filters if isinstance(f, LibraryChatter)]
        assert kept.verbose == calls[-1]
        assert root.level == (logging.DEBUG if calls[-1] else logging.INFO)
    finally:
        root.setLevel(saved)


def run_local(tmp_path, function, *flags, env=None):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"run": {"function": function}, "dask_cluster": {"workers": 1}}))
    return run_cli(*flags, "run", str(config), "--local", cwd=tmp_path, env={"PYTHONPATH": HERE, **(env or {})})


def lines(log, levels=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")):
    """(level, logger) of each line of the log at one of `levels`."""
    return [(m["level"], m["logger"]) for m in LINE.finditer(log) if m["level"] in levels]


def from_dask(found):
    return [(level, logger) for level, logger in found if not outside(logger)]


@pytest.mark.slow
def test_the_default_log_of_a_local_run_is_daskruns_and_verbose_brings_dasks_info_back(tmp_path):
    quiet = run_local(tmp_path, "sample_functions.squares")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    for phase in ("config loaded", "cluster created", "all workers joined", "function finished", "cluster deleted"):
        assert f"INFO    daskrun.timeline: phase: {phase} at +" in quiet.stderr
    assert "daskrun.cluster: workers joined: 1/1" in quiet.stderr
    assert from_dask(lines(quiet.stderr, ("DEBUG", "INFO"))) == [], quiet.stderr

    verbose = run_local(tmp_path, "sample_functions.squares", "-v")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    dask_info = {logger for _, logger in from_dask(lines(verbose.stderr, ("INFO",)))}
    assert {"distributed.scheduler", "distributed.nanny"} <= dask_info, verbose.stderr
    assert "INFO    daskrun.timeline: phase: function finished at +" in verbose.stderr


@pytest.mark.slow
def test_a_worker_killed_reaches_the_default_log_from_dask_itself(tmp_path):
    """Dask's own warning and error of a dying worker stay, and the KilledWorker the function raised."""
    result = run_local(tmp_path, "sample_functions.kills_its_worker",
                       env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    assert result.returncode == 1, result.stderr[-3000:]
    found = from_dask(lines(result.stderr))
    assert ("ERROR", "distributed.scheduler") in found and ("WARNING", "distributed.nanny") in found, result.stderr
    assert "workers died while trying to run it" in result.stderr
    assert "raised KilledWorker" in result.stderr
    assert from_dask(lines(result.stderr, ("DEBUG", "INFO"))) == [], result.stderr
