"""User code that calls sys.exit or raises KeyboardInterrupt fails the run (issue 18): exit 0
means the result is kept, and a function's `sys.exit(0)` kept nothing. A result the preview
cannot show still gets its result block."""

from __future__ import annotations

import io
import os

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cli_runner import cli_env, run_cli
from daskrun import exit_guard
from daskrun.exit_guard import ENDED_EARLY, ENV_MARKER
from daskrun.result_block import recover

HERE = os.path.dirname(__file__)
ENV = {"PYTHONPATH": HERE}


def _run(tmp_path, config: dict, env: dict | None = None):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"dask_cluster": {"workers": 1}, **config}))
    return run_cli("run", str(path), "--local", cwd=tmp_path, env={**ENV, "TMPDIR": str(tmp_path), **(env or {})})


@pytest.mark.slow
@pytest.mark.parametrize("args", [{"code": 0}, {"code": 3}, {"code": None}])
def test_a_function_that_calls_sys_exit_fails_with_1_and_stores_nothing(tmp_path, args):
    result = _run(tmp_path, {"run": {"function": "sample_functions.exits", "args": args},
                             "output": {"path": "r.csv"}})
    assert result.returncode == 1, result.stderr
    assert "sample_functions.exits raised SystemExit" in result.stderr
    assert not (tmp_path / "r.csv").exists()
    assert "BEGIN DASKRUN RESULT" not in result.stdout


@pytest.mark.slow
def test_a_function_that_raises_keyboard_interrupt_is_its_own_failure(tmp_path):
    result = _run(tmp_path, {"run": {"function": "sample_functions.interrupts"}})
    assert result.returncode == 1 and "raised KeyboardInterrupt" in result.stderr


def test_a_module_whose_import_exits_is_not_importable(tmp_path):
    result = run_cli("validate", _write(tmp_path, {"run": {"function": "exiting_module.run"}}), "--import",
                     env=ENV)
    assert result.returncode == 2
    assert "importing module 'exiting_module' raised SystemExit: 0" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("preload", ["import sys\nsys.exit(0)\n", "raise KeyboardInterrupt\n"])
def test_a_preload_that_exits_fails_the_launcher_setup(tmp_path, preload):
    result = _run(tmp_path, {"run": {"function": "sample_functions.squares"},
                             "dask_cluster": {"workers": 1, "worker_config": {"setup": {"preload": [preload]}}}})
    assert result.returncode == 2, result.stderr
    assert "raised in the launcher" in result.stderr


def _write(tmp_path, config: dict) -> str:
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("env", [{}, {"PYTHONIOENCODING": "ascii"}])
def test_a_lone_surrogate_gets_its_block_whatever_the_streams_encoding(tmp_path, env):
    result = _run(tmp_path, {"run": {"function": "sample_functions.lone_surrogate"}}, env)
    assert result.returncode == 0, result.stderr
    assert recover(result.stdout) == "text\nok\n\ud800 alone\n"


@pytest.mark.slow
@pytest.mark.parametrize("output", [None, {"path": "r.csv"}, {"path": "r.parquet"}])
def test_a_cell_whose_str_raises_is_the_functions_failure_not_a_retried_one(tmp_path, output):
    # issue 18: the preview crashed (exit 4, no block); with an output the log fallback did.
    config = {"run": {"function": "sample_functions.unprintable_cell"}, **({"output": output} if output else {})}
    result = _run(tmp_path, config)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "sample_functions.unprintable_cell returned a DataFrame that cannot be written as CSV: " \
           "RuntimeError: no text for this cell" in result.stderr
    assert "unexpected error" not in result.stderr and "END DASKRUN RESULT" not in result.stdout
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "r.parquet").exists()


@pytest.mark.slow
def test_a_sliced_result_keeps_its_row_labels_in_the_block(tmp_path):
    result = _run(tmp_path, {"run": {"function": "sample_functions.sliced"}})
    assert result.returncode == 0, result.stderr
    assert list(pd.read_csv(io.StringIO(recover(result.stdout)), index_col=0).index) == [0, 3, 6, 9]


@pytest.mark.slow
@pytest.mark.parametrize("function", ["sample_functions.hard_exit", "sample_functions.hard_exit_from_a_thread"])
def test_os_exit_0_in_the_function_is_a_failure_not_a_success(tmp_path, function):
    result = _run(tmp_path, {"run": {"function": function}, "output": {"path": "r.csv"}})
    assert result.returncode == 1, result.stderr
    assert ENDED_EARLY in result.stderr
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.slow
def test_os_exit_0_in_a_preload_is_a_failure_not_a_success(tmp_path):
    result = _run(tmp_path, {"run": {"function": "sample_functions.squares"},
                             "dask_cluster": {"workers": 1,
                                              "worker_config": {"setup": {"preload": ["import os\nos._exit(0)\n"]}}}})
    assert result.returncode == 1, result.stderr
    assert ENDED_EARLY in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("code", [3, 4, 2, 7, 143])
def test_a_hard_exit_with_any_code_is_the_functions_failure_and_the_marker_is_gone(tmp_path, code):
    # 3 would say "the result is in the log", 4 and 143 would have the Job run it again.
    result = _run(tmp_path, {"run": {"function": "sample_functions.hard_exit", "args": {"code": code}}})
    assert result.returncode == 1, result.stderr
    assert f"exited {code}, a code daskrun did not choose" in result.stderr
    assert f"os._exit({code})" in result.stderr
    assert "BEGIN DASKRUN RESULT" not in result.stdout
    assert not list(tmp_path.glob("daskrun-kept-*")), "the parent removes its marker file"


def test_a_code_daskrun_chose_passes_through_the_guard(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run: {function: sample_functions.squares}\ndask_cluster: {workers: 0}\n")
    result = run_cli("run", str(path), "--local", cwd=tmp_path, env=ENV)
    assert result.returncode == 2, result.stderr
    assert "did not choose" not in result.stderr


@given(kept=st.booleans(), codes=st.lists(st.integers(0, 255), max_size=3))
def test_the_marker_tells_the_parent_what_the_child_chose(tmp_path_factory, kept, codes):
    marker = tmp_path_factory.mktemp("m") / "marker"
    marker.write_bytes(b"")
    exit_guard._marker = str(marker)
    try:
        if kept:
            exit_guard.mark_kept()
        for code in codes:
            exit_guard.mark_exit(code)
    finally:
        exit_guard._marker, exit_guard._kept = None, False
    assert exit_guard._read_marker(str(marker)) == (kept, codes[-1] if codes else None)


@pytest.mark.slow
def test_a_kept_result_still_exits_0_and_user_code_never_sees_the_marker(tmp_path):
    result = _run(tmp_path, {"run": {"function": "sample_functions.environment_value",
                                     "args": {"name": ENV_MARKER}}})
    assert result.returncode == 0, result.stderr
    assert "<unset>" in recover(result.stdout)


@pytest.mark.slow
def test_the_run_stops_when_its_parent_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "worker.pid"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"dask_cluster": {"workers": 1},
                                    "run": {"function": "sample_functions.waits_for_a_signal",
                                            "args": {"pid_file": str(pid_file)}}}))
    parent = subprocess.Popen([sys.executable, "-m", "daskrun", "run", str(path), "--local"], cwd=tmp_path,
                              env=cli_env({**ENV, "TMPDIR": str(tmp_path)}),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the function never started"
    worker = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"the run's worker {worker} still runs a minute after its parent was killed")
