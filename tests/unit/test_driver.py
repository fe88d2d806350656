"""The driver (`daskrun drive`) against a real scheduler, read the way a launcher reads it.

The driver runs as its own process, as in the scheduler pod; the scheduler is a LocalCluster
in this process, so the launcher's `run_on_scheduler` reads the same folder the driver
writes. Launchers come and go; the driver's function runs once.
"""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from daskrun import attach, reattach
from daskrun import driver_files as files
from daskrun.driver import ENV_SCHEDULER

HERE = Path(__file__).parent


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("DASKRUN_DRIVER_DIR", str(tmp_path / "shared"))
    (tmp_path / "shared").mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=":0") as local:
        yield local


def start_driver(cluster, tmp_path, function, args, output=True):
    env = dict(
        os.environ,
        DASKRUN_DRIVER_DIR=str(tmp_path / "shared"),
        **{ENV_SCHEDULER: cluster.scheduler_address, files.ENV_RUN: files.run_spec(function, args, output)},
        PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    return subprocess.Popen([sys.executable, "-m", "daskrun", "drive"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def wait_for(client, state, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = attach.status(client)
        if record and record["state"] == state:
            return record
        time.sleep(0.1)
    raise AssertionError(f"the driver never reached {state}: {attach.status(client)}")


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(10)


def test_a_launcher_lost_mid_run_is_replaced_and_the_function_runs_once(cluster, tmp_path, capfd):
    count, hold = tmp_path / "count", tmp_path / "hold"
    driver = start_driver(cluster, tmp_path, "sample_functions.counted_squares",
                          {"count_file": str(count), "n": 6, "hold_file": str(hold)})
    try:
        with Client(cluster.scheduler_address) as first:
            wait_for(first, files.WAITING)
            assert reattach.next_step(attach.status(first), started_before=False) is reattach.Step.START
            attach.start(first, "launcher-1")
            wait_for(first, files.RUNNING)
        # The first launcher is gone; the function waits on, and a second one attaches.
        with Client(cluster.scheduler_address) as second:
            record = attach.status(second)
            assert reattach.next_step(record, started_before=True) is reattach.Step.FOLLOW
            hold.write_text("go")
            relay = attach.LogRelay()
            final = attach.follow(second, relay)
            result = attach.outcome(second, final)
        assert count.read_text() == "started\n"
        pd.testing.assert_frame_equal(result, pd.DataFrame({"i": range(6), "square": [i * i for i in range(6)]}))
        assert final["rows"] == 6
        assert "counted_squares computed 6 values" in capfd.readouterr().out
        assert driver.poll() is None, "the driver stays until its pod is deleted"
        # The scheduler (in this process here) does not log each of the launcher's polls.
        assert logging.getLogger("distributed.worker").getEffectiveLevel() == logging.WARNING
    finally:
        stop(driver)


def test_a_restarted_driver_keeps_its_outcome_and_never_calls_twice(cluster, tmp_path):
    count = tmp_path / "count"
    args = {"count_file": str(count), "n": 3}
    driver = start_driver(cluster, tmp_path, "sample_functions.counted_squares", args)
    with Client(cluster.scheduler_address) as client:
        wait_for(client, files.WAITING)
        attach.start(client, "launcher")
        done = wait_for(client, files.DONE)
        stop(driver)
        again = start_driver(cluster, tmp_path, "sample_functions.counted_squares", args)
        try:
            time.sleep(3)
            assert attach.status(client) == done
            assert len(attach.outcome(client, done)) == 3
        finally:
            stop(again)
    assert count.read_text() == "started\n"


def test_a_driver_restarted_while_the_function_ran_says_so(cluster, tmp_path):
    count, hold = tmp_path / "count", tmp_path / "hold"
    args = {"count_file": str(count), "hold_file": str(hold)}
    driver = start_driver(cluster, tmp_path, "sample_functions.counted_squares", args)
    with Client(cluster.scheduler_address) as client:
        wait_for(client, files.WAITING)
        attach.start(client, "launcher")
        wait_for(client, files.RUNNING)
        driver.kill()
        driver.wait()
        again = start_driver(cluster, tmp_path, "sample_functions.counted_squares", args)
        try:
            failed = wait_for(client, files.FAILED)
            with pytest.raises(attach.DriverFailed, match="restarted while the function ran") as info:
                attach.outcome(client, failed)
            assert info.value.exit_code == 1
        finally:
            stop(again)
    assert count.read_text() == "started\n"


@pytest.mark.parametrize(
    ("function", "args", "output", "code", "message"),
    [
        ("sample_functions.fails", {}, True, 1, "raised ValueError: task 1 exploded"),
        ("sample_functions.not_a_frame", {}, True, 1, "expected a pandas.DataFrame"),
        ("sample_functions.stores_itself", {}, True, 1, "returned None but `output` is configured"),
        ("sample_functions.exits", {"code": 0}, True, 1, "raised SystemExit"),
        ("sample_functions.no_such_function", {}, True, 2, "no_such_function"),
    ],
)
def test_a_function_failing_in_the_driver_reaches_the_launcher_with_its_exit_code(
    cluster, tmp_path, function, args, output, code, message
):
    driver = start_driver(cluster, tmp_path, function, args, output)
    try:
        with Client(cluster.scheduler_address) as client:
            attach.start(client, "launcher")
            final = attach.follow(client, attach.LogRelay())
            with pytest.raises(attach.DriverFailed, match=message) as info:
                attach.outcome(client, final)
            assert info.value.exit_code == code
    finally:
        stop(driver)


def test_none_without_output_is_a_kept_outcome(cluster, tmp_path):
    driver = start_driver(cluster, tmp_path, "sample_functions.stores_itself", {}, output=False)
    try:
        with Client(cluster.scheduler_address) as client:
            attach.start(client, "launcher")
            assert attach.outcome(client, attach.follow(client, attach.LogRelay())) is None
    finally:
        stop(driver)


def test_a_damaged_result_file_is_refused(cluster, tmp_path):
    driver = start_driver(cluster, tmp_path, "sample_functions.squares", {"n": 2})
    try:
        with Client(cluster.scheduler_address) as client:
            attach.start(client, "launcher")
            final = attach.follow(client, attach.LogRelay())
            (tmp_path / "shared" / files.RESULT).write_bytes(b"not the result")
            with pytest.raises(attach.FunctionFailed, match="damaged"):
                attach.outcome(client, final)
    finally:
        stop(driver)
