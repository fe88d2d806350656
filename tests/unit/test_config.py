import json

import pytest
import yaml

from daskrun.config import ConfigError, config_json_schema, load_config, parse_config
from daskrun.manifest import container_resources
from daskrun.quantity import quantity_value

from cli_runner import REPO, run_cli


def base(**sections):
    config = {"run": {"function": "pkg.mod.fn", "args": {}}}
    config.update(sections)
    return config


def errors_of(config) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    return dict(info.value.errors)


BAD = [
    # (config, key path named in the error, a word the message must contain)
    ({}, "run", "missing"),
    ({"run": {}}, "run.function", "missing"),
    (base(run={"function": 3}), "run.function", "string"),
    (base(run={"function": "nodots"}), "run.function", "import path"),
    (base(run={"function": "a.b c"}), "run.function", "import path"),
    (base(run={"function": "a.b", "args": [1]}), "run.args", "mapping"),
    (base(run={"function": "a.b", "argz": {}}), "run.argz", "did you mean 'args'"),
    (base(dask_clsuter={}), "dask_clsuter", "did you mean 'dask_cluster'"),
    (base(dask_cluster={"workers": -1}), "dask_cluster.workers", ">= 1"),
    (base(dask_cluster={"workers": "8"}), "dask_cluster.workers", "integer"),
    (base(dask_cluster={"workers": 2.5}), "dask_cluster.workers", "integer"),
    (base(dask_cluster={"workers": True}), "dask_cluster.workers", "integer"),
    (base(dask_cluster={"workers": {"minimum": 4, "maximum": 2}}), "dask_cluster.workers", "greater than maximum"),
    (base(dask_cluster={"workers": {"minimum": -1, "maximum": 2}}), "dask_cluster.workers.minimum", ">= 0"),
    (base(dask_cluster={"workers": {"minimum": 1, "maximum": 0}}), "dask_cluster.workers.maximum", ">= 1"),
    (base(dask_cluster={"workers": {"minimum": 1}}), "dask_cluster.workers.maximum", "missing"),
    (base(dask_cluster={"workers": {"min": 1, "maximum": 2}}), "dask_cluster.workers.min", "unknown key"),
    (base(dask_cluster={"worker_config": {"resources": {"memory": "4GB"}}}),
     "dask_cluster.worker_config.resources.memory", "quantity"),
    (base(dask_cluster={"worker_config": {"resources": {"memory": "-1G"}}}),
     "dask_cluster.worker_config.resources.memory", "quantity"),
    (base(dask_cluster={"worker_config": {"resources": {"cpu": "four"}}}),
     "dask_cluster.worker_config.resources.cpu", "quantity"),
    (base(dask_cluster={"worker_config": {"resources": {"cpu": 0}}}),
     "dask_cluster.worker_config.resources.cpu", "positive"),
    (base(dask_cluster={"worker_config": {"resources": {"cpu": [1]}}}),
     "dask_cluster.worker_config.resources.cpu", "quantity"),
    (base(dask_cluster={"worker_config": {"resources": {"gpu": 1}}}),
     "dask_cluster.worker_config.resources.gpu", "unknown key"),
    (base(dask_cluster={"worker_config": {"image": ""}}), "dask_cluster.worker_config.image", "at least 1"),
    (base(dask_cluster={"worker_config": {"nthreads": 0}}), "dask_cluster.worker_config.nthreads", ">= 1"),
    (base(dask_cluster={"worker_config": {"env": {"1BAD": "x"}}}), "dask_cluster.worker_config.env.1BAD",
     "environment variable"),
    (base(dask_cluster={"worker_config": {"env": {"GOOD": 1}}}), "dask_cluster.worker_config.env.GOOD", "string"),
    (base(dask_cluster={"worker_config": {"setup": {"pip_packages": "pandas"}}}),
     "dask_cluster.worker_config.setup.pip_packages", "list"),
    (base(dask_cluster={"worker_config": {"setup": {"apt_packages": ["libgomp1; rm -rf /"]}}}),
     "dask_cluster.worker_config.setup.apt_packages[0]", "Debian package"),
    (base(dask_cluster={"worker_config": {"setup": {"git_repository": {"reference": "main"}}}}),
     "dask_cluster.worker_config.setup.git_repository.url", "missing"),
    (base(dask_cluster={"worker_config": {"setup": {"git_repository": "https://x"}}}),
     "dask_cluster.worker_config.setup.git_repository", "mapping"),
    (base(dask_cluster={"worker_config": {"setup": {"scripts": "/x.sh"}}}),
     "dask_cluster.worker_config.setup.scripts", "did you mean 'script'"),
    (base(dask_cluster={"scheduler": {"resources": {"memory": "lots"}}}),
     "dask_cluster.scheduler.resources.memory", "quantity"),
    (base(output={"bucket": "bkt"}), "output", "`path` is required"),
    (base(output={"path": "r.csv", "key": "AKIA"}), "output", "both `key` and `secret_key`"),
    (base(output={"path": "s3://bkt/r.csv", "bucket": "bkt"}), "output", "not both"),
    (base(output={"path": "r.txt"}), "output.path", ".csv or .parquet"),
    (base(output={"path": "r.csv", "endpoint_url": "http://x"}), "output", "need an S3"),
    (base(output={"path": "r.csv", "bucket": "bkt", "endpoint_url": "minio:9000"}), "output.endpoint_url",
     "http://"),
    (base(output={"path": "r.csv", "secret": "x"}), "output.secret", "did you mean 'secret_key'"),
    (base(output="results.csv"), "output", "mapping"),
]


@pytest.mark.parametrize("config,key,words", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_config_names_the_key(config, key, words):
    errors = errors_of(config)
    assert key in errors, errors
    assert words.lower() in errors[key].lower(), errors[key]


def test_every_error_is_reported_at_once():
    errors = errors_of(base(dask_cluster={"workers": -1, "worker_config": {"nthreads": 0}},
                            output={"path": "x.txt"}, typo=1))
    assert {"dask_cluster.workers", "dask_cluster.worker_config.nthreads", "output.path", "typo"} <= set(errors)


@pytest.mark.parametrize("memory,expected", [("4G", 4e9), ("500Mi", 500 * 2**20), ("2", 2), ("0.5", 0.5),
                                              ("1e3", 1000), ("250m", 0.25), ("1Gi", 2**30)])
def test_quantities(memory, expected):
    assert quantity_value(memory) == pytest.approx(expected)
    load_config(base(dask_cluster={"worker_config": {"resources": {"cpu": memory}}}))


def test_cpu_and_memory_may_be_numbers():
    config = load_config(base(dask_cluster={"worker_config": {"resources": {"memory": 2000000000, "cpu": 4}}}))
    assert container_resources(config.dask_cluster.worker_config.resources) == {
        "requests": {"memory": "2000000000", "cpu": "4"}, "limits": {"memory": "2000000000", "cpu": "4"}}
    assert config.dask_cluster.worker_config.threads == 4


def test_the_seeds_examples_are_valid():
    seed_custom_image = {
        "run": {"function": "btb_benchmark.main.run_benchmark",
                "args": {"iterations": 10, "challenge_types": "xgboost", "sample": 10}},
        "dask_cluster": {"workers": 8, "worker_config": {"resources": {"memory": "4G", "cpu": 4},
                                                          "image": "mlbazaar/btb:latest"}},
        "output": {"path": "results/my_results.csv", "bucket": "my-s3-bucket", "key": "myawskey",
                   "secret_key": "myawssecretkey"},
    }
    seed_git = {
        "run": seed_custom_image["run"],
        "dask_cluster": {"workers": 8, "worker_config": {
            "resources": {"memory": "4G", "cpu": 4},
            "setup": {"git_repository": {"url": "https://github.com/HDI-Project/BTB", "reference": "kubernetes",
                                         "install": "make install-develop"},
                      "pip_packages": ["mlblocks", "sdv"]}}},
    }
    assert load_config(seed_custom_image).output.is_s3
    assert load_config(seed_git).dask_cluster.initial_workers == 8


def test_git_install_is_optional_seed_bug():
    config = load_config(base(dask_cluster={"worker_config": {"setup": {"git_repository": {"url": "https://x/y"}}}}))
    assert config.dask_cluster.worker_config.setup.git_repository.install is None


def test_bare_output_filename_is_fine_seed_bug():
    assert load_config(base(output={"path": "results.csv"})).output.path == "results.csv"


def test_secrets_are_masked_in_repr_and_public_dict():
    config = load_config(base(output={"path": "r.csv", "bucket": "bkt", "key": "AKIAEXAMPLE",
                                      "secret_key": "s3cr3t-value"}))
    for text in (repr(config), str(config), json.dumps(config.public_dict())):
        assert "AKIAEXAMPLE" not in text and "s3cr3t-value" not in text
    assert config.output.secret_key.get_secret_value() == "s3cr3t-value"


def test_chart_values_file_is_a_config(tmp_path):
    values = base(image={"repository": "daskrun"}, rbac={"create": True}, workerRunAsRoot=False)
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    assert load_config(path).run.function == "pkg.mod.fn"


def test_json_file_is_accepted(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(base()))
    assert load_config(path).run.function == "pkg.mod.fn"


def test_unreadable_and_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listy)


def test_schema_describes_the_three_keys_and_forbids_others():
    schema = config_json_schema()
    assert set(schema["properties"]) == {"run", "dask_cluster", "output"}
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values() if d.get("type") == "object")


def test_validate_cli_exit_codes(tmp_path):
    good = run_cli("validate", "values.example.yaml")
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(base(dask_cluster={"workers": {"minimum": 3, "maximum": 1}})))
    result = run_cli("validate", str(bad))
    assert result.returncode == 2
    assert "dask_cluster.workers" in result.stderr and "greater than maximum" in result.stderr


def test_chart_keys_known_to_the_model_match_the_chart():
    chart_values = yaml.safe_load((REPO / "chart" / "values.yaml").read_text())
    from daskrun.chart_path import chart_keys
    from daskrun.config import CONFIG_KEYS

    chart_only = set(chart_values) - set(CONFIG_KEYS)
    assert chart_only <= chart_keys(), f"add to chart/schema/chart-keys.json: {sorted(chart_only - chart_keys())}"


def test_exponent_floats_are_numbers_as_in_helm(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  function: a.b\n  args: {lr: 1e-5, big: 2E+3, name: 1e5x}\n")
    assert load_config(path).run.args == {"lr": 1e-5, "big": 2000.0, "name": "1e5x"}


def test_worker_env_names_are_closed_in_the_schema():
    env = config_json_schema()["$defs"]["WorkerConfig"]["properties"]["env"]
    assert env["additionalProperties"] is False and env["patternProperties"]
