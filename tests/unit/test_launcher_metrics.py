"""The launcher's /metrics (daskrun.launcher_metrics), served by a real process and read with
Prometheus' own text parser; and a port that cannot be served costs the metrics, not the run."""

from __future__ import annotations

import logging
import subprocess
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from servers import free_port

from daskrun import cli, launcher_metrics, timeline
from daskrun.context import ENV_METRICS_PORT, RunContext

# What the launcher's modules report during a run: timeline phases, the progress reporter's
# counts and the runner's stored result.
LAUNCHER = """
import sys, time
from daskrun import launcher_metrics, timeline
launcher_metrics.serve(int(sys.argv[1]), "bench", "3", timeline.PHASES)
line = timeline.begin(time.time() - 2)
timeline.mark(timeline.CONFIG_LOADED)
timeline.mark(timeline.FUNCTION_STARTED)
timeline.mark(timeline.CLUSTER_CREATED)  # marked afterwards, as KubeCluster's own steps are
launcher_metrics.tasks(12, 40, 3)
launcher_metrics.result(8, 1234)
print("ready", flush=True)
sys.stdin.read()
"""


def scraped(port: int) -> dict[str, list]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, **labels: str) -> float:
    [sample] = [s for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return sample.value


def test_a_scrape_reads_the_runs_phases_tasks_workers_and_result():
    port = free_port()
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert launcher.stdout.readline().strip() == "ready"
        metrics = scraped(port)
    finally:
        launcher.communicate("", timeout=30)
    assert value(metrics["daskrun_run_info"], release="bench", revision="3") == 1
    phases = metrics["daskrun_phase_seconds"]
    assert 1.5 < value(phases, phase=timeline.CONFIG_LOADED) < 60
    assert {s.labels["phase"] for s in phases} == {timeline.LAUNCHER_STARTED, timeline.CONFIG_LOADED,
                                                   timeline.FUNCTION_STARTED, timeline.CLUSTER_CREATED}
    # The newest phase, not the last marked: a step marked afterwards does not go back.
    assert value(metrics["daskrun_phase_index"]) == timeline.PHASES.index(timeline.FUNCTION_STARTED)
    assert (value(metrics["daskrun_tasks_done"]), value(metrics["daskrun_tasks_total"]),
            value(metrics["daskrun_workers"])) == (12, 40, 3)
    assert (value(metrics["daskrun_result_rows"]), value(metrics["daskrun_result_bytes"])) == (8, 1234)


def test_without_a_port_every_update_is_a_no_op():
    launcher_metrics.phase(timeline.CONFIG_LOADED, 1.0)
    launcher_metrics.tasks(1, 2, 3)
    launcher_metrics.result(1, None)
    assert "phase" not in launcher_metrics._gauges


def test_a_port_that_cannot_be_served_is_a_warning_not_a_failed_run(monkeypatch, caplog):
    context = RunContext(release="bench", run_id="3")
    for port in ("not-a-port", "99999"):
        monkeypatch.setenv(ENV_METRICS_PORT, port)
        with caplog.at_level(logging.WARNING, logger="daskrun"):
            cli._serve_metrics(context)
        assert f"no launcher metrics on port {port}" in caplog.text
    assert "phase" not in launcher_metrics._gauges
