"""Where and as what a run executes (`RunContext`), and how it is read from the pod.

The chart's Job passes the context as environment variables (job.yaml); each has a CLI flag
of the same meaning, the flag winning. This module is the one place that knows the variables,
the controller default and how the namespace is found.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from daskrun import kube
from daskrun._version import __version__
from daskrun.dask_pods import DaskPods
from daskrun.errors import DaskrunError, ExitCode

# Which controller drives the DaskCluster (daskrun.controller_choice): auto decides per run.
# The chart's controller.mode default and schema enum are tested against / made from these.
CONTROLLER_MODES = ("auto", "embedded", "external")
DEFAULT_CONTROLLER = "auto"
MAX_NAME = 53  # leaves room for the suffixes of the pods and services named after the cluster

# The environment variables the chart sets for the launcher (and the `helm test` pod).
ENV_NAMESPACE = "DASKRUN_POD_NAMESPACE"
ENV_POD_NAME = "DASKRUN_POD_NAME"
ENV_RELEASE = "DASKRUN_RELEASE"
ENV_RUN_ID = "DASKRUN_RUN_ID"
ENV_CONTROLLER = "DASKRUN_CONTROLLER"
# The images: the chart's `image` runs the launcher, the scheduler and the driver (they need the
# Kubernetes clients, Bokeh for the report and dashboard, pyarrow); the workers' default is the
# slim image of the same build (`workerImage`), holding only what a worker process imports.
ENV_SCHEDULER_IMAGE = "DASKRUN_SCHEDULER_IMAGE"
ENV_WORKER_IMAGE = "DASKRUN_WORKER_IMAGE"
# The chart's image.pullPolicy: the Dask pods pull their image as the launcher does.
ENV_IMAGE_PULL_POLICY = "DASKRUN_IMAGE_PULL_POLICY"
IMAGE_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_IMAGE_PULL_POLICY = "IfNotPresent"
ENV_WORKER_RUN_AS_ROOT = "DASKRUN_WORKER_RUN_AS_ROOT"
ENV_METRICS_PORT = "DASKRUN_METRICS_PORT"  # the launcher's /metrics (daskrun.launcher_metrics)
ENV_JOB_NAME = "DASKRUN_JOB_NAME"  # the `helm test` pod's: the run it reports on
# The Secret with git and package-index credentials (daskrun.credentials): the scheduler
# and worker pods reference it by this name.
ENV_CODE_CREDENTIALS_SECRET = "DASKRUN_CODE_CREDENTIALS_SECRET"


class BadControllerMode(DaskrunError):
    exit_code = ExitCode.BAD_CONFIG


class BadPullPolicy(DaskrunError):
    exit_code = ExitCode.BAD_CONFIG


@dataclass(frozen=True)
class RunContext:
    """Where and as what this run executes; filled from the chart's env vars or CLI flags."""

    namespace: str = "default"
    image: str = f"daskrun:{__version__}"  # of the scheduler and the driver
    worker_image: str | None = None  # the workers' default (worker_config.image wins); None: `image`
    image_pull_policy: str = DEFAULT_IMAGE_PULL_POLICY  # of the scheduler, driver and workers
    release: str | None = None
    run_id: str | None = None
    controller: str = DEFAULT_CONTROLLER  # auto is resolved to embedded or external by the claim
    owner: dict[str, Any] | None = None  # ownerReference to the launcher pod (see ownership.py)
    job_uid: str | None = None
    worker_run_as_root: bool = False
    pods: DaskPods = field(default_factory=DaskPods)  # placement and identity (dask_pods.py)
    name: str = ""
    pod_name: str | None = None  # this launcher's pod, when it runs in one
    credentials_secret: str | None = None  # Secret with daskrun.credentials.ENV keys, for setup
    # The launcher pod's mount paths whose files outlive it (daskrun.ownership); None outside
    # a Job's pod, where the output path is the user's own filesystem.
    lasting_mounts: tuple[str, ...] | None = None
    verbose: bool = False  # `daskrun --verbose` (the chart's logLevel: debug), passed to the driver

    @property
    def workers_image(self) -> str:
        """The workers' image unless the config names one: the full image runs a worker too."""
        return self.worker_image or self.image

    def with_name(self) -> RunContext:
        if self.name:
            return self
        return replace(self, name=cluster_name(self.release, self.run_id))


def cluster_name(release: str | None, run_id: str | None) -> str:
    """Unique per run, RFC 1123, short enough for the pods and services derived from it."""
    base = re.sub(r"[^a-z0-9-]+", "-", (release or "daskrun").lower()).strip("-") or "daskrun"
    suffix = f"r{run_id}-" if run_id else ""
    suffix += secrets.token_hex(3)
    base = base[: MAX_NAME - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def env(name: str, default: str | None = None) -> str | None:
    """A context variable from the environment; unset and empty are the same."""
    return os.environ.get(name) or default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def controller_default() -> str:
    return env(ENV_CONTROLLER, DEFAULT_CONTROLLER) or DEFAULT_CONTROLLER


def current_namespace(given: str | None = None) -> str:
    """`given`, else $DASKRUN_POD_NAMESPACE, else the pod's own namespace, else the kubeconfig
    context's, else 'default'."""
    if given:
        return given
    from_env = env(ENV_NAMESPACE)
    if from_env:
        return from_env
    namespace_file = kube.SERVICE_ACCOUNT / "namespace"
    if namespace_file.is_file():
        return namespace_file.read_text().strip()
    return kube.kubeconfig_namespace() or "default"


def from_flags(
    *,
    namespace: str | None = None,
    image: str | None = None,
    worker_image: str | None = None,
    release: str | None = None,
    run_id: str | None = None,
    controller: str | None = None,
    pod_name: str | None = None,
) -> RunContext:
    """The context from CLI flags, each falling back to its environment variable."""
    controller = controller or controller_default()
    if controller not in CONTROLLER_MODES:  # argparse checks a flag's choices, not the environment's
        raise BadControllerMode(
            f"{ENV_CONTROLLER}: {controller!r} is not a controller mode; use one of {', '.join(CONTROLLER_MODES)}"
        )
    values: dict[str, Any] = dict(
        namespace=current_namespace(namespace),
        release=release or env(ENV_RELEASE),
        run_id=run_id or env(ENV_RUN_ID),
        controller=controller,
        pod_name=pod_name or env(ENV_POD_NAME),
        worker_run_as_root=env_flag(ENV_WORKER_RUN_AS_ROOT),
        credentials_secret=env(ENV_CODE_CREDENTIALS_SECRET),
    )
    image = image or env(ENV_SCHEDULER_IMAGE)
    if image:
        values["image"] = image
    values["worker_image"] = worker_image or env(ENV_WORKER_IMAGE)
    pull_policy = env(ENV_IMAGE_PULL_POLICY)
    if pull_policy:
        if pull_policy not in IMAGE_PULL_POLICIES:
            raise BadPullPolicy(
                f"{ENV_IMAGE_PULL_POLICY}: {pull_policy!r} is not an image pull policy; "
                f"use one of {', '.join(IMAGE_PULL_POLICIES)} (the chart's image.pullPolicy)"
            )
        values["image_pull_policy"] = pull_policy
    return RunContext(**values).with_name()
