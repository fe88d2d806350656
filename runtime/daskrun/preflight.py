"""`daskrun preflight`: can this release run? The chart's `helm test` pod calls it.

Checks, each printed on its own line:
  config       the mounted config is valid (the runtime's model);
  crds         the dask CRDs are served (API discovery of kubernetes.dask.org/v1, which needs
               no permission);
  permissions  the pod's ServiceAccount may do what the run needs in this controller mode
               (one SelfSubjectAccessReview per rule: allowed to every authenticated user);
  controller   which controller will drive runs here: a probe DaskWorkerGroup (no workers, no
               cluster) is created and watched for PROBE_WAIT seconds; a dask operator marks it
               as it marks a run's DaskCluster (daskrun.controller_choice). Fails where the
               mode cannot work: embedded beside an operator, external without one;
and reports the state of the current revision's run (its Job), without failing on it.

Exit status: 0 when every check passes, 1 otherwise (2 for an invalid config).
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import Any, NamedTuple, TextIO

from daskrun import context as ctx
from daskrun import kube
from daskrun.config import ConfigError
from daskrun.controller_choice import foreign_marks, other_controller
from daskrun.errors import ExitCode
from daskrun.run_labels import COMPONENT_LABEL
from daskrun.values_check import check_values

DASK_GROUP = "kubernetes.dask.org"
DASK_VERSION = "v1"
CRDS = ("daskclusters", "daskworkergroups", "daskautoscalers")


class Need(NamedTuple):
    group: str
    resource: str
    verb: str
    subresource: str = ""

    def __str__(self) -> str:
        kind = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {kind}{'.' + self.group if self.group else ''}"


def _needs(group: str, resources: tuple[str, ...], verbs: tuple[str, ...]) -> list[Need]:
    found = []
    for resource in resources:
        name, _, sub = resource.partition("/")
        found += [Need(group, name, verb, sub) for verb in verbs]
    return found


# What dask_kubernetes.operator.KubeCluster and the runtime do (chart: templates/role.yaml).
KUBECLUSTER_NEEDS = (
    _needs(
        DASK_GROUP,
        ("daskclusters", "daskclusters/scale", "daskworkergroups", "daskworkergroups/scale", "daskautoscalers"),
        ("get", "list", "watch", "create", "patch", "delete"),
    )
    + _needs("", ("pods",), ("get", "list", "watch"))
    + _needs("", ("pods/log",), ("get",))
    + _needs("", ("services",), ("get", "list", "watch"))
    # The run's TLS Secret (daskrun.run_secret); its get/patch/delete are granted by name.
    + _needs("", ("secrets",), ("create",))
    # The copy of a result stored in the launcher pod's own filesystem (daskrun.result_copy).
    + _needs("", ("configmaps",), ("create",))
)
# What the embedded dask-kubernetes controller (kopf) adds, in the release namespace only.
EMBEDDED_NEEDS = (
    _needs(DASK_GROUP, ("daskjobs", "daskjobs/status"), ("get", "list", "watch", "patch"))
    + _needs("", ("services",), ("create", "patch"))
    + _needs("apps", ("deployments",), ("get", "list", "create", "delete"))
    + _needs("", ("events",), ("create",))
)


def required(controller: str) -> list[Need]:
    """Every permission the run needs in `controller` mode (auto may run the embedded one)."""
    return KUBECLUSTER_NEEDS + (EMBEDDED_NEEDS if controller != "external" else [])


class Report:
    def __init__(self, out: TextIO):
        self.out = out
        self.failed = False

    def ok(self, check: str, message: str) -> None:
        print(f"ok    {check}: {message}", file=self.out)

    def fail(self, check: str, message: str) -> None:
        self.failed = True
        print(f"FAIL  {check}: {message}", file=self.out)

    def info(self, check: str, message: str) -> None:
        print(f"info  {check}: {message}", file=self.out)


def check_crds(api: Any, report: Report) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        served = client.CustomObjectsApi(api).get_api_resources(DASK_GROUP, DASK_VERSION)
    except ApiException as exc:
        if exc.status == 404:
            report.fail(
                "crds",
                f"{DASK_GROUP}/{DASK_VERSION} is not served: install the chart's CRDs "
                "(helm install applies chart/crds on first install) or the dask-kubernetes operator",
            )
        else:
            report.fail("crds", f"API discovery of {DASK_GROUP}/{DASK_VERSION} failed: {kube.server_message(exc)}")
        return
    names = {resource.name for resource in served.resources}
    missing = [crd for crd in CRDS if crd not in names]
    if missing:
        report.fail("crds", f"not served: {', '.join(f'{m}.{DASK_GROUP}' for m in missing)}")
    else:
        report.ok("crds", ", ".join(f"{c}.{DASK_GROUP}" for c in CRDS) + " served")


def check_permissions(api: Any, namespace: str, controller: str, report: Report) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    authorization = client.AuthorizationV1Api(api)
    denied = []
    for need in required(controller):
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace,
                    group=need.group,
                    resource=need.resource,
                    subresource=need.subresource or None,
                    verb=need.verb,
                )
            )
        )
        try:
            result = authorization.create_self_subject_access_review(review)
        except ApiException as exc:
            report.fail("permissions", f"cannot ask the API server ({kube.server_message(exc)})")
            return
        if not result.status.allowed:
            denied.append(str(need))
    if denied:
        report.fail(
            "permissions",
            f"the ServiceAccount may not, in namespace {namespace}: {'; '.join(denied)} "
            f"(controller mode {controller}; set rbac.create: true or grant them)",
        )
    else:
        report.ok(
            "permissions", f"all {len(required(controller))} needed in {controller} mode are allowed in {namespace}"
        )


PROBE_WAIT = 3.0  # an operator marks a new object in ~0.1-0.3s


def _probe_worker_group(name: str) -> dict[str, Any]:
    """A DaskWorkerGroup that makes nothing: no replicas, and its cluster does not exist."""
    return {
        "apiVersion": f"{DASK_GROUP}/{DASK_VERSION}",
        "kind": "DaskWorkerGroup",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "daskrun", COMPONENT_LABEL: "preflight-probe"},
        },
        "spec": {
            "cluster": f"{name}-absent",
            "worker": {"replicas": 0, "spec": {"containers": [{"name": "probe", "image": "none"}]}},
        },
    }


def probe_operator(api: Any, namespace: str, wait: float | None = None) -> tuple[list[str], float]:
    """The marks a dask operator put on a probe within `wait` seconds (none: no operator
    acts in this namespace), and how long they took."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    wait = PROBE_WAIT if wait is None else wait
    objects = client.CustomObjectsApi(api)
    name = f"daskrun-preflight-probe-{secrets.token_hex(3)}"
    args = (DASK_GROUP, DASK_VERSION, namespace, "daskworkergroups")
    objects.create_namespaced_custom_object(*args, _probe_worker_group(name))
    start = time.monotonic()
    try:
        while True:
            probe: dict[str, Any] = objects.get_namespaced_custom_object(*args, name)  # type: ignore[assignment]
            marks = foreign_marks(probe)
            waited = time.monotonic() - start
            if marks or waited >= wait:
                return marks, waited
            time.sleep(0.1)
    finally:
        try:
            objects.delete_namespaced_custom_object(*args, name)
        except ApiException:
            pass  # already gone, or the operator still holds it: it removes its own finalizer


def check_controller(api: Any, namespace: str, controller: str, report: Report) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        marks, waited = probe_operator(api, namespace)
    except ApiException as exc:
        report.fail("controller", f"cannot probe for a dask operator: {kube.server_message(exc)}")
        return
    if marks:
        found = f"{other_controller(marks)} acts on dask resources in {namespace} (it marked a probe in {waited:.1f}s: {', '.join(marks)})"
        if controller == "embedded":
            report.fail(
                "controller",
                f"{found}; runs in controller.mode embedded would stop with exit 4 "
                "rather than be driven twice: set controller.mode auto or external",
            )
        else:
            report.ok("controller", f"the dask operator will drive runs: {found}")
    elif controller == "external":
        report.fail(
            "controller",
            f"no dask operator reacted to a probe in {namespace} within {waited:.0f}s: "
            "runs in controller.mode external would not start; set controller.mode "
            "auto or embedded, or install the dask-kubernetes operator",
        )
    else:
        report.ok(
            "controller",
            f"the embedded controller will drive runs: no dask operator reacted to a probe "
            f"in {namespace} within {waited:.0f}s",
        )


def report_run(api: Any, namespace: str, job_name: str | None, report: Report) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    if not job_name:
        report.info("run", "no Job name given (DASKRUN_JOB_NAME); not reporting the run's state")
        return
    try:
        job = client.BatchV1Api(api).read_namespaced_job(job_name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            report.info("run", f"job/{job_name} not found (removed by job.ttlSecondsAfterFinished?)")
        else:
            report.info("run", f"cannot read job/{job_name}: {kube.server_message(exc)}")
        return
    status = job.status
    conditions = [c for c in status.conditions or [] if c.status == "True"]
    if any(c.type == "Complete" for c in conditions):
        state = "succeeded"
    elif any(c.type == "Failed" for c in conditions):
        reason = next(c for c in conditions if c.type == "Failed")
        state = f"failed ({reason.reason}: {reason.message})"
    elif status.active:
        state = "running"
    else:
        state = "pending"
    report.info(
        "run",
        f"job/{job_name} {state}: {status.active or 0} active, {status.succeeded or 0} succeeded, "
        f"{status.failed or 0} failed pod(s); log: kubectl logs -n {namespace} job/{job_name}",
    )


def cli_preflight(
    config_path: str,
    namespace: str | None,
    release: str | None,
    controller: str | None,
    *,
    out: TextIO | None = None,
) -> int:
    """`daskrun preflight --config FILE`: 0 when the release can run, else non-zero."""
    out = out or sys.stdout
    report = Report(out)
    namespace = ctx.current_namespace(namespace)
    release = release or ctx.env(ctx.ENV_RELEASE) or "(unknown)"
    controller = controller or ctx.controller_default()
    if controller not in ctx.CONTROLLER_MODES:
        report.fail("controller", f"mode must be one of {', '.join(ctx.CONTROLLER_MODES)}, got {controller!r}")
        return ExitCode.BAD_CONFIG
    print(f"preflight of release {release} in namespace {namespace} (controller: {controller})", file=out)

    try:
        config = check_values(config_path, None if release == "(unknown)" else release).config
    except ConfigError as exc:
        report.fail("config", str(exc))
        return exc.exit_code
    report.ok("config", f"{config_path} is valid (function {config.run.function})")

    try:
        api = kube.api_client()
    except Exception as exc:  # noqa: BLE001 - no in-cluster config and no kubeconfig
        report.fail("cluster", f"no Kubernetes credentials (in-cluster or kubeconfig): {exc}")
        return 1
    check_crds(api, report)
    check_permissions(api, namespace, controller, report)
    check_controller(api, namespace, controller, report)
    report_run(api, namespace, ctx.env(ctx.ENV_JOB_NAME), report)
    print("preflight " + ("failed" if report.failed else "passed"), file=out)
    return 1 if report.failed else 0
