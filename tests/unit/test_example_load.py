"""The adaptive-load example on a real LocalCluster: its history of workers and tasks."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from daskrun.examples.load import sleep_tasks


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=True) as client:
        yield client


@pytest.mark.slow
def test_the_history_ends_with_every_task_done_and_the_minimum_reached(client):
    history = sleep_tasks(tasks=6, seconds=0.2, minimum=2, sample_every=0.05)
    assert list(history.columns) == ["seconds", "workers", "tasks_left"]
    assert history["tasks_left"].iloc[0] > 0 and history["tasks_left"].iloc[-1] == 0
    assert history["seconds"].is_monotonic_increasing
    assert history["workers"].iloc[-1] == 2


@pytest.mark.slow
def test_idle_sampling_stops_at_the_timeout_when_the_cluster_stays_above_the_minimum(client):
    history = sleep_tasks(tasks=1, seconds=0, minimum=1, idle_timeout=0.3, sample_every=0.1)
    idle = history[history["tasks_left"] == 0]
    assert (idle["workers"] == 2).all() and 2 <= len(idle) <= 6


@pytest.mark.parametrize("bad", [{"tasks": 0}, {"seconds": -1}, {"minimum": -1}, {"sample_every": 0}])
def test_a_bad_argument_is_refused_before_anything_is_submitted(bad):
    with pytest.raises(ValueError, match="tasks >= 1"):
        sleep_tasks(**bad)
