"""`daskrun run --dry-run`: the DaskCluster manifest the Kubernetes backend would create."""

import re
from dataclasses import replace

import yaml

from daskrun.context import RunContext, cluster_name
from daskrun import driver_files, run_tls
from daskrun.manifest import DRIVER_ARGS, autoscaler_spec, build_cluster_spec
from daskrun.run_labels import CONTROLLER_LABEL, REVISION_LABEL, RUN_LABEL
from daskrun.config import load_config

from cli_runner import run_cli

CONFIG = {
    "run": {"function": "daskrun.examples.benchmark.run_benchmark"},
    "dask_cluster": {
        "workers": 3,
        "worker_config": {
            "resources": {"memory": "4G", "cpu": 2},
            "env": {"MODE": "fast", "LITERAL": "$(HOME) and $HOME"},
            "setup": {"pip_packages": ["xgboost"]},
        },
        "scheduler": {"resources": {"memory": "1Gi", "cpu": "500m"}},
    },
}
OWNER = {"apiVersion": "v1", "kind": "Pod", "name": "bench-r2-abcde", "uid": "1234",
         "blockOwnerDeletion": False, "controller": False}


def spec(config=CONFIG, **context):
    values = dict(namespace="ns1", image="daskrun:0.1.0", release="bench", run_id="2", owner=OWNER)
    values.update(context)
    return build_cluster_spec(load_config(config), RunContext(**values))


def worker(manifest):
    return manifest["spec"]["worker"]["spec"]["containers"][0]


def test_resources_become_requests_and_limits_and_size_the_worker():
    container = worker(spec())
    assert container["resources"] == {"requests": {"memory": "4G", "cpu": "2"}, "limits": {"memory": "4G", "cpu": "2"}}
    args = container["args"]
    assert args[args.index("--nthreads") + 1] == "2"
    assert args[args.index("--memory-limit") + 1] == "4000000000"
    scheduler = spec()["spec"]["scheduler"]["spec"]["containers"][0]
    assert scheduler["resources"]["limits"] == {"memory": "1Gi", "cpu": "500m"}


def test_replicas_image_and_env():
    manifest = spec()
    assert manifest["spec"]["worker"]["replicas"] == 3
    assert worker(manifest)["image"] == "daskrun:0.1.0"
    env = {e["name"]: e["value"] for e in worker(manifest)["env"] if not e["name"].startswith(run_tls.ENV_PREFIX)}
    # The user's variables, beside the run's TLS settings and the tls:// address they need.
    assert env.pop("DASK_SCHEDULER_ADDRESS").startswith("tls://")
    assert env == {"MODE": "fast", "LITERAL": "$$(HOME) and $$HOME"}  # kubelet folds $$ back to $
    custom = dict(CONFIG, dask_cluster={**CONFIG["dask_cluster"], "worker_config": {"image": "me/img:1"}})
    assert worker(spec(custom))["image"] == "me/img:1"
    assert spec(custom)["spec"]["scheduler"]["spec"]["containers"][0]["image"] == "daskrun:0.1.0"


def test_setup_runs_through_the_bootstrap_before_dask_worker():
    container = worker(spec())
    assert container["command"][:2] == ["sh", "-c"]
    assert "uv pip install" in container["command"][2]
    assert container["args"][:3] == ["python", "-m", "distributed.cli.dask_worker"]
    plain = worker(spec({"run": CONFIG["run"]}))
    assert "command" not in plain


def test_a_worker_image_of_the_users_starts_with_the_dask_command():
    custom = dict(CONFIG, dask_cluster={**CONFIG["dask_cluster"], "worker_config": {"image": "me/img:1"}})
    assert worker(spec(custom))["args"][:2] == ["dask", "worker"]


def test_owner_reference_and_labels():
    manifest = spec()
    assert manifest["metadata"]["ownerReferences"] == [OWNER]
    labels = manifest["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "bench"
    assert labels["app.kubernetes.io/name"] == "daskrun"
    assert labels[RUN_LABEL] == manifest["metadata"]["name"]
    # Created unlabelled in every mode: the launcher claims it for its embedded controller
    # only when no operator acted on it (daskrun.controller_choice).
    for mode in ("auto", "embedded", "external"):
        manifest = spec(controller=mode)
        assert CONTROLLER_LABEL not in manifest["metadata"]["labels"]
        assert CONTROLLER_LABEL not in manifest["spec"]["worker"]["metadata"]["labels"]


def test_pods_are_restricted_unless_apt_needs_root():
    container = worker(spec())
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    apt = {"run": CONFIG["run"], "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}}
    assert worker(spec(apt))["securityContext"]["runAsNonRoot"] is True  # no opt-in: still restricted
    assert worker(spec(apt, worker_run_as_root=True))["securityContext"]["runAsUser"] == 0


def test_cluster_names_are_unique_valid_and_short():
    names = {cluster_name("a-very-long-release-name-" * 4, "12345") for _ in range(50)}
    assert len(names) == 50
    for name in names | {cluster_name(None, None), cluster_name("Weird_Name!", "1")}:
        assert len(name) <= 53 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name), name


def test_autoscaler_carries_labels_and_owner():
    context = RunContext(namespace="ns", release="r", controller="embedded", owner=OWNER).with_name()
    scaler = autoscaler_spec(context, 1, 3)
    assert scaler["spec"] == {"cluster": context.name, "minimum": 1, "maximum": 3}
    assert scaler["metadata"]["labels"][CONTROLLER_LABEL] == context.name
    assert scaler["metadata"]["ownerReferences"] == [OWNER]
    operator_driven = autoscaler_spec(replace(context, controller="external"), 1, 3)
    assert CONTROLLER_LABEL not in operator_driven["metadata"]["labels"]


def test_dry_run_cli_prints_yaml_without_a_cluster(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = run_cli("run", str(path), "--dry-run", "--namespace", "team", "--worker-image", "reg/daskrun:9",
                     "--release", "rel", env={"KUBECONFIG": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest["kind"] == "DaskCluster"
    assert manifest["metadata"]["namespace"] == "team"
    assert manifest["metadata"]["name"].startswith("rel-")
    assert worker(manifest)["image"] == "reg/daskrun:9"


def test_an_unknown_controller_mode_from_the_environment_stops_before_anything(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = run_cli("run", str(path), "--dry-run", "--namespace", "team",
                     env={"KUBECONFIG": str(tmp_path / "none"), "DASKRUN_CONTROLLER": "operator"})
    assert result.returncode == 2, result.stderr
    assert "DASKRUN_CONTROLLER: 'operator' is not a controller mode; use one of auto, embedded, external" \
        in result.stderr
    assert not result.stdout


def test_scheduler_gets_the_packages_and_repository_but_not_apt_or_script():
    config = {"run": CONFIG["run"], "dask_cluster": {"worker_config": {"setup": {
        "pip_packages": ["xgboost"], "git_repository": {"url": "https://example.com/r.git"},
        "apt_packages": ["curl"], "script": "/s.sh"}}}}
    scheduler = spec(config)["spec"]["scheduler"]["spec"]["containers"][0]
    script = scheduler["command"][2]
    assert "uv pip install" in script and "git clone" in script
    assert "apt-get" not in script and "step script" not in script
    assert scheduler["args"][:3] == ["python", "-m", "distributed.cli.dask_scheduler"]
    assert "command" not in spec({"run": CONFIG["run"]})["spec"]["scheduler"]["spec"]["containers"][0]


def test_the_driver_is_verbose_when_the_launcher_is():
    """The chart's logLevel: debug makes the launcher `daskrun --verbose`; its driver logs alike."""
    quiet = spec({"run": CONFIG["run"]})["spec"]["scheduler"]["spec"]["containers"][1]
    verbose = spec({"run": CONFIG["run"]}, verbose=True)["spec"]["scheduler"]["spec"]["containers"][1]
    assert quiet["args"] == DRIVER_ARGS and "--verbose" not in quiet["args"]
    assert verbose["args"] == ["python", "-m", "daskrun", "--verbose", "drive"]
    # Where the CLI parses it: a global option, before the command.
    from daskrun.cli import _parser

    assert _parser().parse_args(verbose["args"][3:]).verbose is True


def test_the_driver_runs_beside_the_scheduler_with_its_setup_and_a_shared_folder():
    config = {"run": {"function": "pkg.mod.fn", "args": {"n": (1, 2), "label": "$(HOME)"}},
              "dask_cluster": {"worker_config": {"setup": {"pip_packages": ["xgboost"], "preload": ["pkg.boot"]}}},
              "output": {"path": "s3://bucket/result.csv"}}
    manifest = spec(config, credentials_secret="code-creds")
    pod = manifest["spec"]["scheduler"]["spec"]
    scheduler, driver = pod["containers"]
    assert driver["name"] == "driver"
    assert driver["args"] == DRIVER_ARGS
    assert driver["command"] == scheduler["command"]  # the same setup, preloads given to `drive`
    assert driver["image"] == scheduler["image"]
    assert driver["securityContext"] == scheduler["securityContext"]
    # The same settings but for the scheduler's own: its TLS role and the HTTP API it serves.
    own = {"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"} | {e["name"] for e in run_tls.dask_env("scheduler")}
    assert {e["name"] for e in scheduler["env"]} - own <= {e["name"] for e in driver["env"]}
    [run] = [e["value"] for e in driver["env"] if e["name"] == driver_files.ENV_RUN]
    assert driver_files.read_run_spec(run) == {"function": "pkg.mod.fn", "args": {"n": (1, 2), "label": "$(HOME)"},
                                               "output": True}
    shared = {"name": driver_files.VOLUME, "mountPath": driver_files.MOUNT}
    assert shared in scheduler["volumeMounts"] and shared in driver["volumeMounts"]
    assert {"name": driver_files.VOLUME, "emptyDir": {}} in pod["volumes"]
    assert driver_files.ENV_RUN not in str(worker(manifest))


def test_the_driver_gets_the_schedulers_volumes_env_and_read_only_root():
    from daskrun.dask_pods import DaskPods, PodSettings

    settings = PodSettings(extraVolumeMounts=[{"name": "data", "mountPath": "/data"}],
                           extraVolumes=[{"name": "data", "emptyDir": {}}], extraEnv=[{"name": "A", "value": "1"}])
    pods = DaskPods(scheduler=settings, read_only_root_filesystem=True)
    pod = spec({"run": CONFIG["run"]}, pods=pods)["spec"]["scheduler"]["spec"]
    for container in pod["containers"]:
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        assert {"name": "A", "value": "1"} in container["env"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "daskrun-tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert "command" not in pod["containers"][1]  # no setup: the image's entrypoint


def test_the_revision_is_a_label_when_it_can_be_one():
    assert spec(run_id="7")["metadata"]["labels"][REVISION_LABEL] == "7"
    assert REVISION_LABEL not in spec(run_id="not a label!")["metadata"]["labels"]


JOB_OWNER = {"apiVersion": "batch/v1", "kind": "Job", "name": "bench-r2-1a2b3c4d", "uid": "5678",
             "blockOwnerDeletion": False, "controller": False}


def test_only_the_driver_of_a_jobs_run_gets_a_token_for_its_watchdog():
    from daskrun import kube, watchdog
    from daskrun.dask_pods import DaskPods

    manifest = spec(owner=JOB_OWNER, name="bench-r2-1a2b3c4d", pods=DaskPods(service_account="bench-daskrun-dask"))
    scheduler_pod = manifest["spec"]["scheduler"]["spec"]
    scheduler, driver = scheduler_pod["containers"]
    env = {e["name"]: e["value"] for e in driver["env"] if "value" in e}
    assert (env[watchdog.ENV_JOB], env[watchdog.ENV_CLUSTER], env[watchdog.ENV_NAMESPACE]) == (
        "bench-r2-1a2b3c4d", "bench-r2-1a2b3c4d", "ns1")
    token_mounts = [m for m in driver["volumeMounts"] if m["mountPath"] == str(kube.SERVICE_ACCOUNT)]
    assert token_mounts and token_mounts[0]["readOnly"] is True
    [volume] = [v for v in scheduler_pod["volumes"] if v["name"] == token_mounts[0]["name"]]
    assert volume["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token"
    assert scheduler_pod["automountServiceAccountToken"] is False
    for container in [scheduler, *manifest["spec"]["worker"]["spec"]["containers"]]:
        assert all(m["name"] != volume["name"] for m in container.get("volumeMounts", []))
    # Without the chart's Dask ServiceAccount, or without a Job, no token at all.
    for other in (spec(owner=JOB_OWNER), spec(pods=DaskPods(service_account="x"))):
        assert "projected" not in str(other)
        assert watchdog.ENV_JOB not in str(other)


def test_the_driver_is_sized_by_dask_cluster_driver():
    config = {"run": CONFIG["run"], "dask_cluster": {"driver": {"resources": {"memory": "8Gi", "cpu": 2}}}}
    driver = spec(config)["spec"]["scheduler"]["spec"]["containers"][1]
    assert driver["resources"] == {"requests": {"memory": "8Gi", "cpu": "2"}, "limits": {"memory": "8Gi", "cpu": "2"}}
    assert "resources" not in spec({"run": CONFIG["run"]})["spec"]["scheduler"]["spec"]["containers"][1]


def test_the_dask_pods_pull_their_image_with_the_launchers_policy():
    manifest = spec(image_pull_policy="Always")
    scheduler_pod = manifest["spec"]["scheduler"]["spec"]
    policies = {c["name"]: c["imagePullPolicy"] for c in scheduler_pod["containers"]}
    assert set(policies.values()) == {"Always"} and "driver" in policies
    assert worker(manifest)["imagePullPolicy"] == "Always"
    assert worker(spec())["imagePullPolicy"] == "IfNotPresent"  # the default


def test_daskrun_verbose_run_gives_its_driver_verbose_too(tmp_path):
    """From the command line the chart runs (`daskrun --verbose run FILE`) to the driver's args."""
    path = tmp_path / "run.yaml"
    path.write_text("run: {function: a.b}\n")
    for flags, expected in (((), DRIVER_ARGS), (("--verbose",), ["python", "-m", "daskrun", "--verbose", "drive"])):
        result = run_cli(*flags, "run", str(path), "--dry-run")
        assert result.returncode == 0, result.stderr
        [cluster] = [doc for doc in yaml.safe_load_all(result.stdout) if doc and doc.get("kind") == "DaskCluster"]
        [driver] = [c for c in cluster["spec"]["scheduler"]["spec"]["containers"] if c["name"] == "driver"]
        assert driver["args"] == expected
