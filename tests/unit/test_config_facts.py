"""Each fact about a config has one answer, a property of its model, and every caller asks it.

Issue 19: "how many workers", "is it Parquet", "is it S3" were worked out again in the
cluster, the manifest, the output and the Parquet check, each its own way; and the namespace
of a run started from Python was not the one every command uses.
"""

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daskrun import cluster, output, parquet_engine, runner, status_cli
from daskrun.config import DEFAULT_WORKERS, MAX_WORKERS, ConfigError, load_config
from daskrun.context import ENV_NAMESPACE, RunContext, from_flags
from daskrun.manifest import build_cluster_spec

RUN = {"run": {"function": "daskrun.examples.benchmark.run_benchmark"}}

# `dask_cluster.workers` as a user may write it: absent, a count, or a range.
WORKER_RANGES = st.integers(1, MAX_WORKERS).flatmap(
    lambda most: st.integers(0, most).map(lambda least: {"minimum": least, "maximum": most})
)
WORKERS = st.one_of(st.none(), st.integers(1, MAX_WORKERS), WORKER_RANGES)


def dask_cluster(workers, **more):
    return load_config({**RUN, "dask_cluster": {**({} if workers is None else {"workers": workers}), **more}}).dask_cluster


@given(workers=WORKERS)
@settings(max_examples=60, deadline=None)
def test_how_many_workers_has_one_answer_for_any_workers_value(workers):
    cluster_cfg = dask_cluster(workers)
    assert cluster_cfg.adaptive == isinstance(workers, dict)
    if isinstance(workers, dict):
        assert (cluster_cfg.min_workers, cluster_cfg.max_workers) == (workers["minimum"], workers["maximum"])
    else:
        count = DEFAULT_WORKERS if workers is None else workers
        assert cluster_cfg.min_workers == cluster_cfg.max_workers == count
    assert cluster_cfg.initial_workers == cluster_cfg.min_workers <= cluster_cfg.max_workers
    assert cluster_cfg.workers_to_wait_for == cluster_cfg.min_workers


@given(workers=WORKERS, data=st.data())
@settings(max_examples=30, deadline=None)
def test_workers_to_wait_for_is_the_given_minimum_within_the_maximum(workers, data):
    most = dask_cluster(workers).max_workers
    wanted = data.draw(st.integers(0, most))
    assert dask_cluster(workers, wait_for_workers={"minimum": wanted}).workers_to_wait_for == wanted
    with pytest.raises(ConfigError, match="more than the cluster ever has"):
        dask_cluster(workers, wait_for_workers={"minimum": most + 1})


class _FakeLocalCluster:
    made: list = []

    def __init__(self, **kwargs):
        self.kwargs, self.adapted, self.name, self.dashboard_link = kwargs, None, "fake", ""
        _FakeLocalCluster.made.append(self)

    def adapt(self, **bounds):
        self.adapted = bounds

    def close(self):
        pass


@pytest.mark.parametrize("workers", [None, 3, {"minimum": 0, "maximum": 4}, {"minimum": 2, "maximum": 5}])
def test_a_local_cluster_and_a_dask_cluster_start_with_the_same_workers(workers, monkeypatch):
    import distributed

    monkeypatch.setattr(distributed, "LocalCluster", _FakeLocalCluster)
    config = load_config({**RUN, "dask_cluster": {"tls": False, **({} if workers is None else {"workers": workers})}})
    with cluster.local_cluster(config):
        pass
    local = _FakeLocalCluster.made[-1]
    spec = build_cluster_spec(config, RunContext(namespace="ns"))
    assert local.kwargs["n_workers"] == spec["spec"]["worker"]["replicas"] == config.dask_cluster.initial_workers
    bounds = config.dask_cluster
    assert local.adapted == ({"minimum": bounds.min_workers, "maximum": bounds.max_workers} if bounds.adaptive else None)


# --- the output: where, and in which format ---------------------------------------------------

NAME = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}\Z")
EXTENSION = st.sampled_from(["csv", "parquet"]).flatmap(
    lambda ext: st.lists(st.booleans(), min_size=len(ext), max_size=len(ext)).map(
        lambda upper: "".join(c.upper() if up else c for c, up in zip(ext, upper, strict=True))
    )
)
BUCKET = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,20}[a-z0-9]\Z")


@given(
    folders=st.lists(NAME, max_size=3),
    name=NAME,
    extension=EXTENSION,
    where=st.sampled_from(["local", "s3 url", "bucket"]),
    bucket=BUCKET,
)
@settings(max_examples=80, deadline=None)
def test_format_and_s3_have_one_answer_for_any_output(folders, name, extension, where, bucket):
    key = "/".join([*folders, f"{name}.{extension}"])
    given_output = {
        "local": {"path": key},
        "s3 url": {"path": f"s3://{bucket}/{key}"},
        "bucket": {"path": key, "bucket": bucket},
    }[where]
    stored = load_config({**RUN, "output": given_output}).output
    expected_format = extension.lower()
    assert stored.format == expected_format and stored.is_parquet == (expected_format == "parquet")
    assert output.result_format(stored) == stored.format
    assert stored.is_s3_url == (where == "s3 url")
    assert stored.is_s3 == (where != "local")
    assert stored.s3_object == (None if where == "local" else (bucket, key))
    # The Parquet engine is looked for when, and only when, the output is Parquet.
    with mock.patch.object(parquet_engine.importlib, "import_module") as imported:
        parquet_engine.check_engine(stored)
    assert imported.called == stored.is_parquet


def test_without_an_output_the_result_is_printed_as_csv():
    assert output.result_format(None) == "csv"
    parquet_engine.check_engine(None)


# --- one namespace rule -----------------------------------------------------------------------


class _Stop(ConfigError):
    pass


def test_a_run_from_python_without_a_context_goes_where_every_command_goes(monkeypatch):
    monkeypatch.setenv(ENV_NAMESPACE, "team-x")
    seen = []

    def owned(context):
        seen.append(context)
        raise _Stop([("(test)", "stop before the cluster")])

    monkeypatch.setattr(runner, "owned_by_launcher", owned)
    with pytest.raises(_Stop):
        runner.run_dask_function(RUN)
    assert seen[0].namespace == from_flags().namespace == "team-x"


def test_status_without_a_namespace_lists_the_one_every_command_uses(monkeypatch):
    import kubernetes.client

    monkeypatch.setenv(ENV_NAMESPACE, "team-x")
    asked = []
    batch = mock.Mock()
    batch.list_namespaced_job.side_effect = lambda namespace, **_: asked.append(namespace) or mock.Mock(items=[])
    monkeypatch.setattr(kubernetes.client, "BatchV1Api", lambda api: batch)
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda api: mock.Mock())
    assert status_cli.collect(None, None, False, api=object()) == []
    assert asked == ["team-x"]
