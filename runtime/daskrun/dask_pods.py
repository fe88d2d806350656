"""Placement, identity and metadata of the run's Dask scheduler and worker pods.

These are chart keys, read from the same values file as the config: the pod settings at the
top level (`nodeSelector`, `tolerations`, ...) apply to the launcher, the scheduler and the
workers alike; `daskPods.scheduler` / `daskPods.workers` override them per role. So
`daskrun run values.yaml --dry-run` shows the placement the chart's run would get. The names
are the chart's (camelCase), and chart/schema/chart-keys.json holds the same keys (a chart
test keeps the two in step). Kubernetes-typed values (tolerations, affinity, volumes) are
checked by the API server, as they are for the launcher.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from daskrun.config_messages import messages
from daskrun.errors import ConfigError
from daskrun.strict_model import Strict

# The ServiceAccount of the Dask pods is "<fullname>-dask" unless named; fullname is the
# chart's `daskrun.fullname` helper, reproduced in `chart_fullname` (tested against it).
DASK_ACCOUNT_SUFFIX = "-dask"
CHART_NAME = "daskrun"
_K8S_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

Object = dict[StrictStr, Any]
# Maps a role override merges key by key into the top-level value; other keys it replaces.
MERGED_KEYS = ("nodeSelector", "podLabels", "podAnnotations")


class PullSecret(Strict):
    name: StrictStr = Field(min_length=1)


class PodSettings(Strict):
    """Settings of one pod; None means "not given" (a role override then keeps the top level's)."""

    imagePullSecrets: list[PullSecret] | None = None
    nodeSelector: dict[StrictStr, StrictStr] | None = None
    tolerations: list[Object] | None = None
    affinity: Object | None = None
    topologySpreadConstraints: list[Object] | None = None
    priorityClassName: StrictStr | None = None
    podLabels: dict[StrictStr, StrictStr] | None = None
    podAnnotations: dict[StrictStr, StrictStr] | None = None
    extraVolumes: list[Object] | None = None
    extraVolumeMounts: list[Object] | None = None
    extraEnv: list[Object] | None = None

    def overridden_by(self, role: PodSettings) -> PodSettings:
        """This pod's settings with a role's: given keys replace ours, maps merge key by key."""
        merged = self.model_dump(exclude_none=True, mode="python")
        for key, value in role.model_dump(exclude_none=True, mode="python").items():
            if key in MERGED_KEYS:
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        return PodSettings.model_validate(merged, strict=False)


POD_KEYS = tuple(PodSettings.model_fields)
# The settings that are pod spec fields of the same name, copied as given: into the Dask pods
# (daskrun.manifest) and the launcher's pod (the chart's job.yaml, through the contract).
PLACEMENT_KEYS = ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName")
# The chart's defaults for "nothing" at the top level; in a role override an empty value replaces.
_UNSET: tuple[Any, ...] = (None, "", [], {})


class DaskServiceAccount(Strict):
    create: StrictBool = True
    name: StrictStr = Field("", pattern=r"^$|" + _K8S_NAME)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class DaskPodsValues(Strict):
    """The chart's `daskPods` key."""

    serviceAccount: DaskServiceAccount = Field(default_factory=DaskServiceAccount)
    readOnlyRootFilesystem: StrictBool = False
    scheduler: PodSettings = Field(default_factory=PodSettings)
    workers: PodSettings = Field(default_factory=PodSettings)


class MetricsValues(BaseModel):
    """The chart's `metrics` key, of which the Dask pods need `enabled` only (the port, the
    scrapers and the PodMonitor are the chart's, checked by its schema)."""

    model_config = ConfigDict(extra="ignore")

    enabled: StrictBool = False


class DaskPods(BaseModel):
    """What the scheduler and worker pods get: settings per role and the ServiceAccount."""

    model_config = ConfigDict(frozen=True)

    scheduler: PodSettings = Field(default_factory=PodSettings)
    workers: PodSettings = Field(default_factory=PodSettings)
    service_account: str | None = None
    read_only_root_filesystem: bool = False
    metrics: bool = False  # Prometheus scrape annotations for Dask's /metrics


def chart_fullname(release: str, values: dict[str, Any]) -> str:
    """The chart's `daskrun.fullname` for a release and its values."""
    if values.get("fullnameOverride"):
        return str(values["fullnameOverride"])[:63].rstrip("-")
    name = values.get("nameOverride") or CHART_NAME
    if name in release:
        return release[:63].rstrip("-")
    return f"{release}-{name}"[:63].rstrip("-")


def dask_account_name(release: str, values: dict[str, Any]) -> str:
    """The chart's `daskrun.daskServiceAccountName`: `daskPods.serviceAccount.name`, or
    `<fullname>-dask` when the chart creates it."""
    named = ((values.get("daskPods") or {}).get("serviceAccount") or {}).get("name")
    if named:
        return str(named)
    base = chart_fullname(release, values)[: 63 - len(DASK_ACCOUNT_SUFFIX)].rstrip("-")
    return base + DASK_ACCOUNT_SUFFIX


def _errors(exc: ValidationError, root: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    return [(prefix + key, message) for key, message in messages(exc, root)]


def parse_dask_pods(values: dict[str, Any], release: str | None, source: str | None = None) -> DaskPods:
    """The Dask pods' settings from a values (or config) file's chart keys; ConfigError names
    every bad key. `release` names the chart's ServiceAccount when `daskPods.serviceAccount.name`
    is not set (None: no ServiceAccount, e.g. a plain config file outside the chart)."""
    errors: list[tuple[str, str]] = []
    top = PodSettings()
    dask = DaskPodsValues()
    try:
        top = PodSettings.model_validate({k: values[k] for k in POD_KEYS if values.get(k) not in _UNSET})
    except ValidationError as exc:
        errors += _errors(exc, PodSettings)
    try:
        dask = DaskPodsValues.model_validate(values.get("daskPods") or {})
    except ValidationError as exc:
        errors += _errors(exc, DaskPodsValues, "daskPods.")
    metrics = MetricsValues()
    try:
        metrics = MetricsValues.model_validate(values.get("metrics") or {})
    except ValidationError as exc:
        errors += _errors(exc, MetricsValues, "metrics.")
    if not dask.serviceAccount.create and not dask.serviceAccount.name:
        errors.append(
            (
                "daskPods.serviceAccount.name",
                "required when daskPods.serviceAccount.create "
                "is false: name an existing ServiceAccount for the Dask pods",
            )
        )
    if errors:
        raise ConfigError(errors, source)
    account = None
    if dask.serviceAccount.name or release:
        account = dask_account_name(release or "", values)
    return DaskPods(
        scheduler=top.overridden_by(dask.scheduler),
        workers=top.overridden_by(dask.workers),
        service_account=account,
        read_only_root_filesystem=dask.readOnlyRootFilesystem,
        metrics=metrics.enabled,
    )


def check_read_only_root(pods: DaskPods, setup: Any, source: str | None = None) -> None:
    """apt installs into the image's /usr, which a read-only root filesystem forbids (pip and
    git_repository install into a writable environment then: daskrun.bootstrap)."""
    if pods.read_only_root_filesystem and setup.apt_packages:
        raise ConfigError(
            [
                (
                    "daskPods.readOnlyRootFilesystem",
                    (
                        "the workers' setup.apt_packages installs into the image, which needs a writable root "
                        "filesystem: set it to false, or install those packages in the worker image"
                    ),
                )
            ],
            source,
        )


def dask_resource_name(kubernetes_name: str) -> str:
    """The Dask worker resource an extended Kubernetes resource is exposed as: GPUs of every
    vendor as `GPU` (what `client.submit(..., resources={"GPU": 1})` asks for), others by
    their own name."""
    return "GPU" if _GPU.match(kubernetes_name) else kubernetes_name


_GPU = re.compile(r"^(nvidia\.com|amd\.com)/gpu$|^gpu\.intel\.com/")
