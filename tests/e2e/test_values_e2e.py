"""Bad values are refused by `helm install` before anything exists; `helm test` checks a release."""

import pytest

from cluster_tools import CHART, IMAGE_REPOSITORY, IMAGE_TAG, SMALL_RUN, helm, kjson

BAD_VALUES = [
    ({"dask_cluster": {"workers": -1}}, "workers"),
    ({"dask_cluster": {"workers": {"minimum": 5, "maximum": 2}}}, "workers"),
    ({"dask_cluster": {"workers": "eight"}}, "workers"),
    ({"dask_cluster": {"worker_config": {"resources": {"memory": "4GB"}}}}, "memory"),
    ({"dask_cluster": {"worker_config": {"nthreads": 0}}}, "nthreads"),
    ({"dask_cluster": {"worker_config": {"setup": {"pip_packages": "xgboost"}}}}, "pip_packages"),
    ({"dask_cluster": {"wroker_config": {}}}, "wroker_config"),
    ({"run": {"function": "not-a-path", "args": {}}}, "function"),
    ({"run": {"function": "a.b", "args": [1, 2]}}, "args"),
    ({"output": {"path": "r.txt"}}, "output"),
    ({"output": {"path": "r.csv", "key": "only-the-key"}}, "output"),
    ({"controller": {"mode": "sometimes"}}, "mode"),
    ({"job": {"backoffLimit": -3}}, "backoffLimit"),
    ({"serviceAccount": {"create": "yes"}}, "create"),
    ({"imagee": {"repository": "x"}}, "imagee"),
]


@pytest.mark.parametrize("bad,key", BAD_VALUES, ids=[k for _, k in BAD_VALUES])
def test_bad_values_fail_install_naming_the_key_and_create_nothing(namespace, release, bad, key):
    rel = release()
    config = {**SMALL_RUN, **bad}
    result = rel.install(config, check=False)
    assert result.returncode != 0
    assert key in result.stderr, result.stderr
    for kind in ("jobs", "pods", "configmaps", "secrets", "roles", "serviceaccounts"):
        names = [i["metadata"]["name"] for i in kjson("-n", namespace, "get", kind)["items"]]
        assert [n for n in names if n not in ("kube-root-ca.crt", "default")] == [], kind
    assert helm("status", rel.name, "-n", namespace, check=False).returncode != 0


def test_helm_test_passes_on_a_good_release(namespace, release):
    rel = release()
    rel.install(SMALL_RUN)
    result = helm("test", rel.name, "-n", namespace, "--logs", "--timeout", "300s", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rel.wait() == "Complete"


def test_helm_test_fails_on_a_broken_release(namespace, release):
    rel = release()
    # Installed without RBAC and with a ServiceAccount that has no rights: the run cannot work.
    from cluster_tools import kubectl

    kubectl("-n", namespace, "create", "serviceaccount", "powerless")
    rel.install(SMALL_RUN, rbac={"create": False}, serviceAccount={"create": False, "name": "powerless"})
    result = helm("test", rel.name, "-n", namespace, "--logs", "--timeout", "300s", check=False)
    assert result.returncode != 0
    assert "daskclusters" in (result.stdout + result.stderr)


# Plain scalars PyYAML and Helm once read differently (issue 18), written as a user would.
DISPUTED_ARGS = """\
run:
  function: daskrun.examples.echo.arguments
  args:
    answer: y
    flag: off
    thousand: 1e3
    five: 5.
    zero: -0.0
    octal: 0o10
    leading_zero: 010
    ratio: 1:20
    clock: 12:30:00
    day: 2026-01-02
    biggest: 9007199254740991
    tiny: 1.5e-7
    "n": quoted key
dask_cluster:
  workers: 1
  worker_config:
    resources: {memory: 700M, cpu: 250m}
"""


def test_a_values_file_of_disputed_scalars_means_in_the_pod_what_it_means_locally(namespace, release, tmp_path):
    import io
    import subprocess
    import sys

    import pandas as pd
    import yaml


    local_values = tmp_path / "disputed.yaml"
    local_values.write_text(DISPUTED_ARGS)
    local = subprocess.run([sys.executable, "-m", "daskrun", "run", str(local_values), "--local"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    rel = release()
    pod_values = tmp_path / "disputed-pod.yaml"
    pod_values.write_text(DISPUTED_ARGS + yaml.safe_dump(
        {"image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG, "pullPolicy": "IfNotPresent"}}))
    helm("upgrade", "--install", rel.name, str(CHART), "-n", namespace, "-f", str(pod_values))
    rel.revision = 1
    assert rel.wait() == "Complete", rel.launcher_log()
    recovered = rel.recover()
    assert recovered.returncode == 0, recovered.stderr

    def received(csv_text: str) -> pd.DataFrame:
        return pd.read_csv(io.StringIO(csv_text), keep_default_na=False)

    from daskrun.result_block import recover

    in_the_pod, here = received(recovered.stdout), received(recover(local.stdout))
    pd.testing.assert_frame_equal(in_the_pod, here)
    assert dict(zip(here["name"], here["value"])) == {
        "answer": "True", "flag": "False", "thousand": "1000", "five": "5", "zero": "0", "octal": "8",
        "leading_zero": "8", "ratio": "'1:20'", "clock": "'12:30:00'", "day": "'2026-01-02'",
        "biggest": "9007199254740991", "tiny": "1.5e-07", "n": "'quoted key'"}


def test_a_number_helm_would_change_is_refused_by_helm_install(namespace, release, tmp_path):
    values = tmp_path / "big.yaml"
    values.write_text("run:\n  function: daskrun.examples.echo.arguments\n  args:\n    seed: 9007199254740993\n")
    result = helm("upgrade", "--install", release().name, str(CHART), "-n", namespace, "-f", str(values),
                  check=False)
    assert result.returncode != 0
    assert "run.args.seed" in result.stderr and "quote it" in result.stderr
