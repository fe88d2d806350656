"""The DaskCluster manifest for one run: pure data, no cluster contacted (``--dry-run`` prints it)."""

from __future__ import annotations

import re
from typing import Any

from daskrun import driver_files, kube, run_tls, watchdog, worker_drain
from daskrun._version import __version__
from daskrun.bootstrap import LAUNCHER_STEPS, bootstrap_script
from daskrun.config import Config, Resources, Setup
from daskrun.context import RunContext
from daskrun.credentials import secret_env
from daskrun.dask_pods import PLACEMENT_KEYS, DaskPods, PodSettings, dask_resource_name
from daskrun.run_labels import (
    COMPONENT_LABEL,
    CONTROLLER_LABEL,
    INSTANCE_LABEL,
    JOB_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    REVISION_LABEL,
    RUN_LABEL,
    SCHEDULER_COMPONENT,
    WORKER_COMPONENT,
)

IMAGE_UID = 10001  # the Dockerfile's USER
IMAGE_HOME = "/home/daskrun"  # the Dockerfile's HOME and WORKDIR
# Dask's HTTP servers (dashboard, /metrics): the scheduler's as dask-kubernetes names it
# `http-dashboard`, the workers' as _worker_args sets it.
SCHEDULER_DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788


def container_resources(resources: Resources) -> dict[str, dict[str, str]]:
    """Requests equal to limits, so the pod gets exactly what the config asks for."""
    amounts = {
        k: v
        for k, v in (
            ("memory", resources.memory),
            ("cpu", resources.cpu),
            ("ephemeral-storage", resources.ephemeral_storage),
        )
        if v is not None
    }
    amounts.update({k: str(v) for k, v in resources.extended.items()})
    return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


def kubernetes_escape(text: str) -> str:
    """Protect `$` from the kubelet, which expands $(VAR) and folds $$ in command and args."""
    return text.replace("$", "$$")


def worker_command(setup: Setup, read_only_root: bool = False) -> list[str] | None:
    """Container `command` that runs the setup then the container's args; None without setup."""
    if setup.empty:
        return None
    script = bootstrap_script(setup, read_only_root=read_only_root)
    return ["sh", "-c", kubernetes_escape(script), "daskrun-setup"]


def scheduler_command(setup: Setup, read_only_root: bool = False) -> list[str] | None:
    """The scheduler unpickles task graphs, so it needs the user's packages and repository
    too (pip and git steps; apt and the script are for workers). None when there are none."""
    if not any(getattr(setup, step) for step in LAUNCHER_STEPS):
        return None
    script = bootstrap_script(setup, LAUNCHER_STEPS, read_only_root=read_only_root)
    return ["sh", "-c", kubernetes_escape(script), "daskrun-setup"]


_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def labels(context: RunContext) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": "daskrun",
        COMPONENT_LABEL: "dask-cluster",
        MANAGED_BY_LABEL: MANAGED_BY,
        "app.kubernetes.io/version": __version__,
        RUN_LABEL: context.name,
    }
    if context.release:
        result[INSTANCE_LABEL] = context.release
    if context.job_uid:
        result[JOB_LABEL] = context.job_uid
    if context.run_id and _LABEL_VALUE.fullmatch(context.run_id):
        result[REVISION_LABEL] = context.run_id
    return result


def restricted_container() -> dict[str, Any]:
    """What Pod Security's `restricted` level asks of every non-root container of ours."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _security_context(as_root: bool) -> dict[str, Any]:
    if as_root:
        # apt-get needs root and its default capabilities; only with the chart's opt-in.
        return {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return {"runAsNonRoot": True, "runAsUser": IMAGE_UID, "runAsGroup": IMAGE_UID, **restricted_container()}


# In our image, `python -m` skips the `dask` command's scan of every installed package's entry
# points: about 0.5 CPU-seconds off each worker's and the scheduler's start, which is most of a
# second at the CPU a small worker gets. Another image may have `dask` but no `python`.
OUR_WORKER = ["python", "-m", "distributed.cli.dask_worker"]
OUR_SCHEDULER = ["python", "-m", "distributed.cli.dask_scheduler"]
ANY_WORKER = ["dask", "worker"]


def _worker_args(config: Config) -> list[str]:
    worker = config.dask_cluster.worker_config
    args = [
        *(ANY_WORKER if worker.image else OUR_WORKER),
        "--name",
        "$(DASK_WORKER_NAME)",
        "--dashboard",
        "--dashboard-address",
        str(WORKER_DASHBOARD_PORT),
        "--nthreads",
        str(worker.threads),
    ]
    memory = worker.resources.memory_bytes
    args += ["--memory-limit", str(memory) if memory else "auto"]
    resources = dask_resources(config)
    if resources:
        args += ["--resources", ",".join(f"{k}={v}" for k, v in resources.items())]
    return args


def dask_resources(config: Config) -> dict[str, int]:
    """The Dask worker resources of each worker: its extended Kubernetes resources, GPUs as `GPU`."""
    found: dict[str, int] = {}
    for name, count in config.dask_cluster.worker_config.resources.extended.items():
        key = dask_resource_name(name)
        found[key] = found.get(key, 0) + count
    return found


# Writable places of a pod whose root filesystem is read-only: dask's temporary directory
# (spilling, the worker's local directory) and the home directory (dask's config cache).
WRITABLE_DIRS = {"tmp": "/tmp", "home": IMAGE_HOME}


def scrape_annotations(port: int) -> dict[str, str]:
    """The annotations Prometheus' kubernetes_sd examples scrape a pod by."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}


def _apply_pod_settings(role: dict[str, Any], settings: PodSettings, pods: DaskPods, dashboard_port: int) -> None:
    """Placement, metadata, volumes and env of one role (scheduler or workers)."""
    pod = role["spec"]
    metadata = role.setdefault("metadata", {})
    # The run's own labels win: the controller and the cleanup select on them.
    metadata["labels"] = {**(settings.podLabels or {}), **metadata.get("labels", {})}
    annotations = {**(scrape_annotations(dashboard_port) if pods.metrics else {}), **(settings.podAnnotations or {})}
    if annotations:
        metadata["annotations"] = annotations
    if pods.service_account:
        pod["serviceAccountName"] = pods.service_account
    pod["automountServiceAccountToken"] = False
    if settings.imagePullSecrets:
        pod["imagePullSecrets"] = [s.model_dump() for s in settings.imagePullSecrets]
    for key in PLACEMENT_KEYS:
        value = getattr(settings, key)
        if value:  # an override to [] or {} means "none" for this role
            pod[key] = value
    volumes = list(settings.extraVolumes or [])
    mounts = list(settings.extraVolumeMounts or [])
    if pods.read_only_root_filesystem:
        volumes += [{"name": f"daskrun-{name}", "emptyDir": {}} for name in WRITABLE_DIRS]
        mounts += [{"name": f"daskrun-{name}", "mountPath": path} for name, path in WRITABLE_DIRS.items()]
    if volumes:
        pod["volumes"] = pod.get("volumes", []) + volumes
    # The scheduler's driver (daskrun.driver) gets the same mounts and env as the scheduler.
    for container in pod["containers"]:
        if pods.read_only_root_filesystem:
            container["securityContext"]["readOnlyRootFilesystem"] = True
        if mounts:
            container["volumeMounts"] = container.get("volumeMounts", []) + mounts
        env = container.get("env", []) + list(settings.extraEnv or [])
        if env:
            container["env"] = env


def _env(config: Config) -> list[dict[str, str]]:
    # Env values get the same $(VAR) expansion by the kubelet as command and args.
    return [{"name": k, "value": kubernetes_escape(v)} for k, v in config.dask_cluster.worker_config.env.items()]


def build_cluster_spec(config: Config, context: RunContext) -> dict[str, Any]:
    """The DaskCluster object this run creates: make_cluster_spec, then our edits."""
    # Here, not at the top: dask_kubernetes.operator (with kr8s and httpx) takes 1.3-1.7 s to
    # import, and a local run, which imports this module through the runner, never uses it.
    from dask_kubernetes.operator import make_cluster_spec

    context = context.with_name()
    worker_cfg = config.dask_cluster.worker_config
    spec = make_cluster_spec(
        name=context.name,
        image=context.image,
        n_workers=config.dask_cluster.initial_workers,
        worker_command="dask worker",
    )
    run_labels = labels(context)
    spec["metadata"]["labels"] = run_labels
    spec["metadata"]["namespace"] = context.namespace
    if context.owner:
        spec["metadata"]["ownerReferences"] = [context.owner]

    worker_pod = spec["spec"]["worker"]["spec"]
    worker = worker_pod["containers"][0]
    worker["image"] = worker_cfg.image or context.workers_image
    worker["imagePullPolicy"] = context.image_pull_policy
    worker["args"] = _worker_args(config)
    read_only_root = context.pods.read_only_root_filesystem
    command = worker_command(worker_cfg.setup, read_only_root)
    if command:
        worker["command"] = command
    worker["env"] = _env(config)
    # Only the pip and git steps use credentials, the same steps the scheduler runs.
    if scheduler_command(worker_cfg.setup) and context.credentials_secret:
        worker["env"] += secret_env(context.credentials_secret)
    worker["resources"] = container_resources(worker_cfg.resources)
    worker["securityContext"] = _security_context(context.worker_run_as_root and bool(worker_cfg.setup.apt_packages))
    worker_pod["restartPolicy"] = "Always"
    worker["lifecycle"] = worker_drain.pre_stop_hook()
    worker_pod["terminationGracePeriodSeconds"] = worker_drain.GRACE_PERIOD
    spec["spec"]["worker"]["metadata"] = {"labels": {**run_labels, COMPONENT_LABEL: WORKER_COMPONENT}}

    scheduler_pod = spec["spec"]["scheduler"]["spec"]
    scheduler = scheduler_pod["containers"][0]
    scheduler["args"] = [*OUR_SCHEDULER, "--host", "0.0.0.0"]
    scheduler_setup = scheduler_command(worker_cfg.setup, read_only_root)
    if scheduler_setup:
        scheduler["command"] = scheduler_setup
    scheduler["imagePullPolicy"] = context.image_pull_policy
    scheduler["env"] = []
    if scheduler_setup and context.credentials_secret:
        scheduler["env"] += secret_env(context.credentials_secret)
    scheduler["resources"] = container_resources(config.dask_cluster.scheduler.resources)
    scheduler["securityContext"] = _security_context(False)
    spec["spec"]["scheduler"]["metadata"] = {"labels": {**run_labels, COMPONENT_LABEL: SCHEDULER_COMPONENT}}
    # After the clean-up: the user's own values (an `emptyDir: {}`) are kept as given.
    spec = _drop_empty(spec)
    scheduler_pod = spec["spec"]["scheduler"]["spec"]
    scheduler_pod["containers"][0]["volumeMounts"] = [dict(_DRIVER_MOUNT)]
    scheduler_pod["containers"].append(driver_container(config, context, scheduler_setup))
    scheduler_pod["volumes"] = [{"name": driver_files.VOLUME, "emptyDir": {}}]
    if _watched(context):
        scheduler_pod["volumes"].append(_token_volume())
    scheduler_pod["containers"][0]["env"] = scheduler_pod["containers"][0].get("env", []) + [_HTTP_API]
    if config.dask_cluster.tls:
        _use_tls(spec, context)
    _apply_pod_settings(spec["spec"]["scheduler"], context.pods.scheduler, context.pods, SCHEDULER_DASHBOARD_PORT)
    _apply_pod_settings(spec["spec"]["worker"], context.pods.workers, context.pods, WORKER_DASHBOARD_PORT)
    return spec


def _http_api_routes() -> str:
    import dask
    import distributed  # noqa: F401 - loads distributed's defaults into dask.config

    routes = list(dask.config.get("distributed.scheduler.http.routes"))
    return repr([*routes, "distributed.http.scheduler.api"])


# The dask controller (operator or embedded) asks the scheduler how many workers it wants and
# retires workers gracefully through this HTTP API; its other way, a Dask comm of its own,
# cannot pass the run's TLS. The dashboard port is reached only from the run's own pods and
# the operator's namespace (chart/templates/networkpolicy.yaml).
_HTTP_API = {"name": "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES", "value": _http_api_routes()}


def scheduler_comm_address(context: RunContext, scheme: str) -> str:
    """The scheduler's comm address as the dask controller gives it to workers, our scheme."""
    return f"{scheme}://{context.name}-scheduler.{context.namespace}.svc.cluster.local:8786"


def _use_tls(spec: dict[str, Any], context: RunContext) -> None:
    """Every Dask process of the run gets its role's certificate (daskrun.run_tls)."""
    scheduler_pod = spec["spec"]["scheduler"]["spec"]
    scheduler, driver = scheduler_pod["containers"]
    scheduler["args"] += ["--protocol", run_tls.SCHEME]
    for container, role in ((scheduler, "scheduler"), (driver, "client")):
        container["env"] = container.get("env", []) + run_tls.dask_env(role)
        container["volumeMounts"] = container.get("volumeMounts", []) + [run_tls.mount(role)]
        scheduler_pod["volumes"].append(run_tls.volume(context.name, role))
    worker_pod = spec["spec"]["worker"]["spec"]
    worker = worker_pod["containers"][0]
    address = {"name": "DASK_SCHEDULER_ADDRESS", "value": scheduler_comm_address(context, run_tls.SCHEME)}
    worker["env"] = [*worker.get("env", []), address, *run_tls.dask_env("worker")]
    worker["volumeMounts"] = worker.get("volumeMounts", []) + [run_tls.mount("worker")]
    worker_pod["volumes"] = worker_pod.get("volumes", []) + [run_tls.volume(context.name, "worker")]


_DRIVER_MOUNT = {"name": driver_files.VOLUME, "mountPath": driver_files.MOUNT}
DRIVER_ARGS = ["python", "-m", "daskrun", "drive"]


def driver_args(context: RunContext) -> list[str]:
    """`daskrun drive`, verbose when the launcher is, so Dask's INFO lines show in the driver too."""
    python, flag, module, command = DRIVER_ARGS
    return [python, flag, module, *(["--verbose"] if context.verbose else []), command]


def driver_container(config: Config, context: RunContext, setup_command: list[str] | None) -> dict[str, Any]:
    """The container that calls the user's function beside the scheduler (daskrun.driver):
    the scheduler's image and setup, so it imports what the scheduler unpickles."""
    run = driver_files.run_spec(config.run.function, config.run.args, config.output is not None)
    container: dict[str, Any] = {
        "name": "driver",
        "image": context.image,
        "imagePullPolicy": context.image_pull_policy,
        "args": driver_args(context),
        "env": [{"name": driver_files.ENV_RUN, "value": run}],
        "securityContext": _security_context(False),
        "volumeMounts": [dict(_DRIVER_MOUNT)],
    }
    resources = container_resources(config.dask_cluster.driver.resources)
    if resources:
        container["resources"] = resources
    if setup_command:
        container["command"] = setup_command
        # Its own: with a read-only root the home directory is an emptyDir the scheduler's
        # container mounts too, and both set up at the same time.
        container["env"].append({"name": "DASKRUN_SETUP_DIR", "value": f"{IMAGE_HOME}/daskrun-setup-driver"})
        if context.credentials_secret:
            container["env"] += secret_env(context.credentials_secret)
    if _watched(context):
        assert context.owner is not None
        container["env"] += [
            {"name": watchdog.ENV_JOB, "value": context.owner["name"]},
            {"name": watchdog.ENV_CLUSTER, "value": context.name},
            {"name": watchdog.ENV_NAMESPACE, "value": context.namespace},
        ]
        container["volumeMounts"].append(
            {"name": _TOKEN_VOLUME, "mountPath": str(kube.SERVICE_ACCOUNT), "readOnly": True}
        )
    return container


_TOKEN_VOLUME = "daskrun-driver-token"


def _watched(context: RunContext) -> bool:
    """Whether the driver guards the cluster against its Job ending (daskrun.watchdog): only
    for a Job's cluster, and only with the chart's Dask ServiceAccount, whose Role allows
    exactly that. Another account's token is never mounted into user code."""
    return bool(context.owner and context.owner.get("kind") == "Job" and context.pods.service_account)


def _token_volume() -> dict[str, Any]:
    """The ServiceAccount token, CA and namespace a pod would automount, for one container."""
    return {
        "name": _TOKEN_VOLUME,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ]
        },
    }


def _drop_empty(value: Any) -> Any:
    """make_cluster_spec leaves `None`s and empty lists that the API server would reject or keep."""
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def run_object_metadata(context: RunContext, name: str, object_labels: dict[str, str]) -> dict[str, Any]:
    """The metadata of an object the run creates: owned by the launcher's Job when there is one,
    so garbage collection removes it with the Job (a pod of it would go with the pod)."""
    metadata: dict[str, Any] = {"name": name, "namespace": context.namespace, "labels": object_labels}
    if context.owner:
        metadata["ownerReferences"] = [context.owner]
    return metadata


def autoscaler_spec(context: RunContext, minimum: int, maximum: int) -> dict[str, Any]:
    """A DaskAutoscaler with our labels, so an embedded controller scoped to this run sees it."""
    run_labels = labels(context)
    if context.controller == "embedded":  # created after the claim: the driver is known
        run_labels[CONTROLLER_LABEL] = context.name
    metadata = run_object_metadata(context, context.name, run_labels)
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskAutoscaler",
        "metadata": metadata,
        "spec": {"cluster": context.name, "minimum": minimum, "maximum": maximum},
    }
