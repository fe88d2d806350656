"""Versions every Dask process of a run must share: the rules over `get_versions()` dicts, the
check before the function starts, and the scheduler's refusal of a worker that joins later."""

from __future__ import annotations

import copy
import logging
import re
import time

import pytest
from distributed import Client, LocalCluster
from hypothesis import given
from hypothesis import strategies as st

from daskrun import version_check, version_guard
from daskrun.errors import ExitCode, VersionMismatch
from daskrun.version_check import MUST_MATCH, SHOULD_MATCH

VERSION = st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3}){1,3}\Z")
WORKER = "tls://10.244.0.9:40123"


def entry(**packages: str | None) -> dict:
    return {"host": {}, "packages": packages}


def cluster_versions(launcher: dict, scheduler: dict, workers: dict[str, dict]) -> dict:
    return {"client": entry(**launcher), "scheduler": entry(**scheduler),
            "workers": {address: entry(**found) for address, found in workers.items()}}


@st.composite
def same_everywhere(draw):
    """Versions where every required package is equal on every process; others anything."""
    required = {package: draw(VERSION) for package in MUST_MATCH}
    addresses = draw(st.lists(st.from_regex(r"\Atcp://10\.0\.0\.[0-9]{1,3}:[0-9]{4,5}\Z"), max_size=4, unique=True))

    def process():
        return dict(required, **{package: draw(VERSION) for package in SHOULD_MATCH})

    return cluster_versions(process(), process(), {address: process() for address in addresses})


@given(same_everywhere())
def test_equal_required_versions_never_fail(versions):
    version_check.check(versions)
    assert not [d for d in version_check.differences(versions) if d.required]


@given(same_everywhere(), st.sampled_from(list(MUST_MATCH)), VERSION, st.sampled_from(["scheduler", "worker"]))
def test_any_differing_required_version_fails_naming_both(versions, package, other, where):
    launcher_version = versions["client"]["packages"][package]
    if MUST_MATCH[package](other) == MUST_MATCH[package](launcher_version):
        other = "9" + launcher_version  # another first number: differs in any compared part
    versions = copy.deepcopy(versions)
    if where == "scheduler":
        versions["scheduler"]["packages"][package] = other
    else:
        versions["workers"][WORKER] = copy.deepcopy(versions["client"])
        versions["workers"][WORKER]["packages"][package] = other
    with pytest.raises(VersionMismatch) as caught:
        version_check.check(versions)
    message = str(caught.value)
    assert f"{package}: " in message and launcher_version in message and other in message
    assert "on launcher" in message and (f"on worker {WORKER}" if where == "worker" else "scheduler") in message
    assert caught.value.exit_code == ExitCode.BAD_CONFIG


@given(st.integers(0, 30), st.integers(0, 30))
def test_python_must_match_in_major_minor_only(patch, other_patch):
    versions = cluster_versions({"python": f"3.11.{patch}"}, {"python": f"3.11.{other_patch}"},
                                {WORKER: {"python": "3.11.0"}})
    version_check.check(versions)
    versions["workers"][WORKER]["packages"]["python"] = "3.12.1"
    with pytest.raises(VersionMismatch, match=r"python: .*3\.12\.1 on worker"):
        version_check.check(versions)


def test_the_message_names_package_versions_places_and_the_image_to_change():
    versions = cluster_versions(
        {"distributed": "2026.8.0", "dask": "2026.8.0"},
        {"distributed": "2026.8.0", "dask": "2026.8.0"},
        {WORKER: {"distributed": "2026.7.1", "dask": "2026.7.1"}, "tls://10.244.0.8:1": {"distributed": "2026.8.0",
                                                                                      "dask": "2026.8.0"}},
    )
    with pytest.raises(VersionMismatch) as caught:
        version_check.check(versions, {WORKER: "run-default-worker-ab12c"})
    message = str(caught.value)
    assert (
        f"distributed: 2026.8.0 on launcher, scheduler, worker tls://10.244.0.8:1; 2026.7.1 on worker {WORKER} "
        "(run-default-worker-ab12c)"
    ) in message
    assert "dask: 2026.8.0 on launcher" in message
    assert ("fix: set dask_cluster.worker_config.image (or the chart's workerImage) to an image with dask==2026.8.0, distributed==2026.8.0, "
            "the versions the launcher runs") in message
    assert "scheduler from an image" not in message


def test_a_scheduler_of_another_image_is_told_to_run_the_launchers():
    versions = cluster_versions({"cloudpickle": "3.1.1"}, {"cloudpickle": "3.0.0"}, {})
    with pytest.raises(VersionMismatch, match=r"cloudpickle: 3\.1\.1 on launcher; 3\.0\.0 on scheduler") as caught:
        version_check.check(versions)
    assert "run the scheduler from an image with cloudpickle==3.1.1" in str(caught.value)
    assert "worker_config.image" not in str(caught.value)


def test_msgpack_must_match_in_its_major_only():
    version_check.check(cluster_versions({"msgpack": "1.1.0"}, {"msgpack": "1.0.8"}, {}))
    with pytest.raises(VersionMismatch, match=r"msgpack: 1\.1\.0 on launcher; 0\.6\.2 on scheduler"):
        version_check.check(cluster_versions({"msgpack": "1.1.0"}, {"msgpack": "0.6.2"}, {}))


def test_other_packages_only_warn(caplog):
    versions = cluster_versions({"pandas": "2.3.0", "numpy": "2.1.0"}, {"pandas": "2.3.0", "numpy": "2.1.0"},
                                {WORKER: {"pandas": "2.2.0", "numpy": "2.1.0"}})
    with caplog.at_level(logging.WARNING, logger="daskrun"):
        version_check.check(versions)
    assert f"pandas: 2.3.0 on launcher, scheduler; 2.2.0 on worker {WORKER}" in caplog.text
    assert "numpy" not in caplog.text


def test_a_missing_package_is_a_difference_and_a_worker_that_did_not_answer_none():
    versions = cluster_versions({"msgpack": "1.1.0"}, {"msgpack": "1.1.0"}, {WORKER: {"msgpack": None}})
    versions["workers"]["tcp://10.0.0.2:1"] = "OSError: timed out"  # what broadcast(on_error="ignore") leaves
    with pytest.raises(VersionMismatch) as caught:
        version_check.check(versions)
    assert f"msgpack: 1.1.0 on launcher, scheduler; not installed on worker {WORKER}\n" in str(caught.value)
    assert "10.0.0.2" not in str(caught.value)


def test_a_joining_worker_is_refused_only_for_required_packages():
    reference = entry(distributed="2026.8.0", python="3.11.7", pandas="2.3.0")
    assert version_check.refusal(reference, WORKER, "w", entry(distributed="2026.8.0", python="3.11.9",
                                                                pandas="2.2.0")) is None
    why = version_check.refusal(reference, WORKER, "w", entry(distributed="2026.7.1", python="3.11.7"))
    assert why is not None
    assert f"worker {WORKER} (w) joined" in why and "distributed: 2026.8.0 on launcher; 2026.7.1 on worker" in why
    assert "distributed==2026.8.0" in why


# A real scheduler, real workers and the real plugin. All processes of a test share one
# environment, so the launcher's side of the comparison is the one part altered: the
# reference the guard holds, as a launcher of another distributed would register it.


def _other_launcher(client: Client) -> dict:
    reference = copy.deepcopy(client.get_versions()["client"])
    reference["packages"]["distributed"] = "2000.1.0"
    return reference


def _wait(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_real_versions_of_a_local_cluster_match_and_one_altered_entry_fails():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        versions, names = version_guard.read(client)
        version_guard.guard(client, versions, names)  # one environment: nothing differs
        (address,) = versions["workers"]
        versions["workers"][address]["packages"]["distributed"] = "2000.1.0"
        with pytest.raises(VersionMismatch) as caught:
            version_check.check(versions, names)
    running = versions["client"]["packages"]["distributed"]
    assert f"distributed: {running} on launcher, scheduler; 2000.1.0 on worker {address} (0)" in str(caught.value)


def test_a_worker_joining_with_other_versions_gets_no_task_and_is_closed(caplog):
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        with caplog.at_level(logging.ERROR, logger="daskrun"):
            version_guard.relay_refusals(client)
            client.register_plugin(version_guard.VersionGuard(_other_launcher(client)))
            future = client.submit(time.time)
            cluster.scale(1)  # a worker joins the running cluster, as a scaled-up pod does
            # Twice: the scheduler's own line, then the launcher's relay of its event, which
            # comes later over the comm (waiting for the first only was a race).
            _wait(lambda: caplog.text.count("joined with packages that differ") >= 2)
            _wait(lambda: not client.scheduler_info()["workers"])
            assert not future.done()
            running = client.get_versions()["client"]["packages"]["distributed"]
    refused = [r for r in caplog.records if "joined with packages" in r.getMessage()]
    # Told twice: by the scheduler (its own log) and, relayed, by the launcher's.
    assert {r.name for r in refused} == {"daskrun.version_guard"} and len(refused) >= 2
    assert re.search(rf"distributed: 2000\.1\.0 on launcher; {re.escape(running)} on worker inproc://\S+", caplog.text)


def test_workers_present_when_the_guard_starts_are_checked_too(caplog):
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        with caplog.at_level(logging.ERROR, logger="daskrun"):
            version_guard.relay_refusals(client)
            client.register_plugin(version_guard.VersionGuard(_other_launcher(client)))
            _wait(lambda: "joined with packages that differ" in caplog.text)
            _wait(lambda: not client.scheduler_info()["workers"])


def test_a_worker_joining_with_the_launchers_versions_runs_tasks():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        versions, names = version_guard.read(client)
        version_guard.guard(client, versions, names)
        future = client.submit(lambda: 42)
        cluster.scale(1)
        assert future.result(timeout=30) == 42
