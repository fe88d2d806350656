"""`daskrun run --local` end to end: real LocalCluster, real exit codes."""

import json
import os
import re

import pandas as pd
import pytest
import yaml

from daskrun.result_block import recover

from cli_runner import REPO, run_cli
from servers import free_port

HERE = os.path.dirname(__file__)


def write(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON: keys such as `n` stay names to Helm and to daskrun
    return str(path)


def run_local(tmp_path, config):
    return run_cli("run", write(tmp_path, config), "--local", "--progress-interval", "1",
                   cwd=tmp_path, env={"PYTHONPATH": HERE})


@pytest.mark.slow
def test_values_example_runs_locally_and_writes_the_seed_shape(tmp_path):
    result = run_cli("run", str(REPO / "values.example.yaml"), "--local", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "benchmark.csv", index_col="challenge")
    example = yaml.safe_load((REPO / "values.example.yaml").read_text())
    assert list(table.columns) == example["run"]["args"]["tuners"]
    assert {"blobs", "moons", "branin"} <= set(table.index)
    assert table.notna().all().all()
    # The example starts once one worker joined (wait_for_workers.minimum); locally both are quick.
    assert re.search(r"workers joined: [12]/1", result.stderr) and "stored at" in result.stderr


@pytest.mark.slow
def test_adaptive_range_runs(tmp_path):
    config = {"run": {"function": "sample_functions.squares", "args": {"n": 6}},
              "dask_cluster": {"workers": {"minimum": 1, "maximum": 2}},
              "output": {"path": "out/sq.parquet"}}
    result = run_local(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert pd.read_parquet(tmp_path / "out" / "sq.parquet")["square"].tolist() == [0, 1, 4, 9, 16, 25]


@pytest.mark.slow
def test_function_failure_exits_1_with_traceback(tmp_path):
    result = run_local(tmp_path, {"run": {"function": "sample_functions.fails"}, "dask_cluster": {"workers": 1}})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "task 1 exploded" in result.stderr


@pytest.mark.slow
def test_wrong_result_type_exits_1(tmp_path):
    result = run_local(tmp_path, {"run": {"function": "sample_functions.not_a_frame"}, "dask_cluster": {"workers": 1}})
    assert result.returncode == 1 and "expected a pandas.DataFrame" in result.stderr


@pytest.mark.slow
def test_none_without_output_is_fine(tmp_path):
    result = run_local(tmp_path, {"run": {"function": "sample_functions.stores_itself"}, "dask_cluster": {"workers": 1}})
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_unstorable_result_exits_3_and_is_recoverable(tmp_path):
    config = {"run": {"function": "sample_functions.squares"}, "dask_cluster": {"workers": 1},
              "output": {"path": "r.csv", "bucket": "bkt", "endpoint_url": f"http://127.0.0.1:{free_port()}"}}
    result = run_cli("run", write(tmp_path, config), "--local", cwd=tmp_path,
                     env={"PYTHONPATH": HERE, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert result.returncode == 3, result.stderr[-2000:]
    assert "could not store the result" in result.stderr
    assert recover(result.stdout) == "i,square\n0,0\n1,1\n2,4\n3,9\n"


@pytest.mark.parametrize("function,message", [
    ("no_such_module.fn", "module 'no_such_module' not found"),
    ("sample_functions.missing", "has no attribute 'missing'"),
    ("sample_functions.pd", "not a function"),
])
def test_invoke_errors_exit_2_before_any_cluster_starts(tmp_path, function, message):
    result = run_local(tmp_path, {"run": {"function": function}})
    assert result.returncode == 2
    assert message in result.stderr
    assert "workers joined" not in result.stderr


def test_bad_kwargs_exit_2(tmp_path):
    result = run_local(tmp_path, {"run": {"function": "sample_functions.squares", "args": {"m": 3}}})
    assert result.returncode == 2 and "unexpected keyword argument 'm'" in result.stderr


def test_bad_config_exits_2(tmp_path):
    result = run_local(tmp_path, {"run": {"function": "sample_functions.squares"}, "dask_cluster": {"workers": -2}})
    assert result.returncode == 2 and "dask_cluster.workers" in result.stderr


@pytest.mark.slow
def test_local_workers_get_the_env_and_the_extended_resources_pods_would(tmp_path):
    # Ignored without a word before: the env never reached a local worker, and a task asking
    # for the GPU the config gives each worker waited forever (issue 18).
    result = run_local(tmp_path, {
        "run": {"function": "sample_functions.worker_environment_value",
                "args": {"name": "MY_SETTING", "resources": {"GPU": 1}}},
        "dask_cluster": {"workers": 1, "worker_config": {"env": {"MY_SETTING": "from the config"},
                                                          "resources": {"nvidia.com/gpu": 1}}}})
    assert result.returncode == 0, result.stderr[-3000:]
    assert recover(result.stdout) == "value\nfrom the config\n"
    assert "local workers get worker_config.env (MY_SETTING) and resources {'GPU': 1}" in result.stderr
