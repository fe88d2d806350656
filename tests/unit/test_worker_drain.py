"""A worker's preStop hook (daskrun.worker_drain) against a real scheduler: the tasks running
on it finish, its results move to the other worker, and nothing is computed twice."""

import os
import subprocess
import sys
import time

from distributed import Client, LocalCluster

from daskrun.worker_drain import DRAIN, pre_stop_hook


def record(path, index, seconds):
    with open(path, "a") as handle:
        handle.write(f"{index}\n")
    time.sleep(seconds)
    return index * index


def drain(address, name, wait=30):
    env = dict(os.environ, DASK_SCHEDULER_ADDRESS=address, DASK_WORKER_NAME=str(name))
    return subprocess.run([sys.executable, "-c", DRAIN, str(wait)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_drained_worker_finishes_its_tasks_and_hands_over_its_results(tmp_path):
    log = tmp_path / "executions"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
        leaving, staying = sorted(names)
        done = [client.submit(record, log, i, 0, workers=[leaving], pure=False) for i in range(3)]
        client.gather(done)
        running = client.submit(record, log, 99, 3, workers=[leaving], allow_other_workers=True, pure=False)
        while not log.read_text().endswith("99\n"):
            time.sleep(0.05)
        result = drain(cluster.scheduler_address, names[leaving])
        assert result.returncode == 0, result.stderr
        assert "retired gracefully" in result.stdout
        assert leaving not in client.scheduler_info()["workers"]
        assert client.gather(done) == [0, 1, 4]
        assert running.result() == 99 * 99
        assert sorted(log.read_text().split()) == ["0", "1", "2", "99"]  # nothing ran twice
        assert client.who_has(done + [running]) and all(
            who == (staying,) for who in client.who_has(done + [running]).values())


def test_without_a_scheduler_the_hook_lets_the_pod_go_at_once():
    started = time.monotonic()
    result = drain("tcp://127.0.0.1:9", "w", wait=30)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30


def test_the_hook_runs_the_script_with_the_images_python():
    command = pre_stop_hook()["preStop"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"] and command[3] == DRAIN
    result = subprocess.run(["sh", "-c", command[2].replace('"$0"', "'print(1)'"), "x", "0"],
                            capture_output=True, text=True, env={"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"})
    assert result.stdout.strip() == "1", result.stderr
