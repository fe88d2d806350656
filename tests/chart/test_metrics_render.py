"""`metrics`: scrape annotations and the launcher's port where Prometheus looks, the
NetworkPolicy opening Dask's HTTP ports (never the Dask protocol) to the scrapers named, and
the PodMonitor; all of it absent by default. A real scrape is in tests/e2e (test_metrics_e2e)."""

from __future__ import annotations

from chart_render import by_kind, one, render_chart, render_error, run_job
from test_dask_pods_render import RUN, pods_of

from daskrun.context import ENV_METRICS_PORT
from daskrun.manifest import SCHEDULER_DASHBOARD_PORT, WORKER_DASHBOARD_PORT

SCRAPERS = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def scrape(pod: dict) -> dict:
    return {k: v for k, v in (pod["metadata"].get("annotations") or {}).items() if k.startswith("prometheus.io/")}


def test_no_metrics_anywhere_by_default():
    objects = render_chart(RUN)
    pods = pods_of(objects)
    assert all(not scrape(pod) for pod in pods.values())
    container = run_job(objects)["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in container and ENV_METRICS_PORT not in {e["name"] for e in container["env"]}
    assert not by_kind(objects, "PodMonitor")


def test_enabled_every_pod_says_where_its_metrics_are():
    objects = render_chart({**RUN, "metrics": {"enabled": True, "port": 9555}})
    pods = pods_of(objects)
    expected = {"launcher": 9555, "scheduler": SCHEDULER_DASHBOARD_PORT, "worker": WORKER_DASHBOARD_PORT}
    for role, port in expected.items():
        assert scrape(pods[role]) == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                                      "prometheus.io/path": "/metrics"}, role
    container = run_job(objects)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9555, "protocol": "TCP"}]
    assert {"name": ENV_METRICS_PORT, "value": "9555"} in container["env"]


def test_a_users_own_annotation_wins_over_ours():
    pods = pods_of(render_chart({**RUN, "metrics": {"enabled": True},
                                 "daskPods": {"workers": {"podAnnotations": {"prometheus.io/scrape": "false"}}}}))
    assert scrape(pods["worker"])["prometheus.io/scrape"] == "false"
    assert scrape(pods["scheduler"])["prometheus.io/scrape"] == "true"


def test_scrapers_reach_dasks_http_ports_only():
    policy = one(render_chart({**RUN, "metrics": {"enabled": True, "scrapers": SCRAPERS}}), "NetworkPolicy")
    rules = policy["spec"]["ingress"]
    [opened] = [rule for rule in rules if rule["from"] == SCRAPERS]
    assert opened["ports"] == [{"port": SCHEDULER_DASHBOARD_PORT, "protocol": "TCP"},
                               {"port": WORKER_DASHBOARD_PORT, "protocol": "TCP"}]
    # Scrapers named but metrics off: nothing opened.
    off = one(render_chart({**RUN, "metrics": {"scrapers": SCRAPERS}}), "NetworkPolicy")
    assert all(rule["from"] != SCRAPERS for rule in off["spec"]["ingress"])


def test_the_pod_monitor_scrapes_the_launcher_and_the_dask_pods_by_port_name():
    objects = render_chart({**RUN, "metrics": {"enabled": True, "podMonitor": {
        "enabled": True, "labels": {"release": "kube-prometheus"}, "interval": "15s"}}})
    monitor = one(objects, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"metrics", "http-dashboard"}
    assert all(e["interval"] == "15s" for e in monitor["spec"]["podMetricsEndpoints"])
    launcher = run_job(objects)["spec"]["template"]
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= launcher["metadata"]["labels"].items()
    for role in ("scheduler", "worker"):
        assert selected.items() <= pods_of(objects)[role]["metadata"]["labels"].items()


def test_bad_metrics_values_are_refused_by_name():
    assert "'/metrics/port': minimum: got 80" in render_error({**RUN, "metrics": {"port": 80}})
    assert "'/metrics/podMonitor/interval': 'soon'" in render_error(
        {**RUN, "metrics": {"podMonitor": {"interval": "soon"}}})
