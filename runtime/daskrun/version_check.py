"""The package versions every Dask process of a run must share: launcher, scheduler, workers.

Read from `Client.get_versions()` (and, for a worker joining later, from the versions it
registers with: daskrun.version_guard), compared here without Dask, so every rule is a pure
function of those dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daskrun.errors import VersionMismatch

log = logging.getLogger(__name__)


def _release(parts: int | None) -> Callable[[str], str]:
    """The part of a version that must be equal: the first `parts` numbers, or all of it."""
    return lambda version: version if parts is None else ".".join(version.split(".")[:parts])


# A difference in one of these fails the run before its function starts (exit 2). This is
# distributed's own `versions.required_packages` but tornado and toolz, plus Python: each of
# them decides whether the processes can read each other's messages and tasks at all.
MUST_MATCH: dict[str, Callable[[str], str]] = {
    # cloudpickle pickles the function and its closures by value: code objects are bytecode of
    # one minor release (3.11's cannot be loaded by 3.12). Patch releases keep the bytecode.
    "python": _release(2),
    # The scheduler-worker protocol and the task spec classes change between releases, and
    # distributed pins the very dask release it was made with.
    "dask": _release(None),
    "distributed": _release(None),
    # Pickles by value reconstruct through cloudpickle's private helpers, changed freely.
    "cloudpickle": _release(None),
    # Every message is msgpack; its format and defaults changed at majors only (1.0: raw, map keys).
    "msgpack": _release(1),
}
# Compared too, but a difference is a warning. Dask itself only warns of any difference (its
# `get_versions(check=True)` never raises); these do not decide whether a message or task can be
# read: tornado carries bytes whose framing is distributed's, toolz and lz4 are helpers (lz4
# only when compression is configured: off by default). pandas and numpy shape the results,
# and images that bring their own builds of them (GPU images, a team's base image) are a
# legitimate choice the user sees in this warning, not one daskrun can judge.
SHOULD_MATCH: tuple[str, ...] = ("pandas", "numpy", "toolz", "tornado", "lz4")

LAUNCHER = "launcher"
SCHEDULER = "scheduler"
NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class Difference:
    package: str
    places: dict[str, tuple[str, ...]]  # version -> where it runs, in order
    required: bool

    def line(self) -> str:
        return f"{self.package}: " + "; ".join(
            f"{version} on {', '.join(where)}" for version, where in self.places.items()
        )


def packages(info: Mapping[str, Any] | None) -> dict[str, str]:
    """The package versions of one process's `get_versions()` entry, as strings."""
    found = (info or {}).get("packages") or {}
    return {name: NOT_INSTALLED if version is None else str(version) for name, version in found.items()}


def worker_place(address: str, name: Any = None) -> str:
    return f"worker {address}" + (f" ({name})" if name not in (None, "", address) else "")


def processes(versions: Mapping[str, Any], names: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, str]]]:
    """(where, package versions) of launcher, scheduler and each worker that answered."""
    found = []
    if versions.get("client") is not None:
        found.append((LAUNCHER, packages(versions["client"])))
    if versions.get("scheduler") is not None:
        found.append((SCHEDULER, packages(versions["scheduler"])))
    for address, info in sorted((versions.get("workers") or {}).items()):
        # A worker that did not answer the broadcast has no entry to compare, not a difference.
        if isinstance(info, Mapping):
            found.append((worker_place(address, (names or {}).get(address)), packages(info)))
    return found


def differences(versions: Mapping[str, Any], names: Mapping[str, Any] | None = None) -> list[Difference]:
    """Each compared package whose versions differ between the processes, required ones first.
    A package a process does not report is not compared for it (older Dask reports fewer)."""
    seen = processes(versions, names)
    found = []
    for package in (*MUST_MATCH, *SHOULD_MATCH):
        same = MUST_MATCH.get(package, _release(None))
        keys = {same(found_versions[package]) for _, found_versions in seen if package in found_versions}
        if len(keys) < 2:
            continue
        places: dict[str, list[str]] = {}
        for where, found_versions in seen:
            if package in found_versions:
                places.setdefault(found_versions[package], []).append(where)
        found.append(Difference(package, {v: tuple(w) for v, w in places.items()}, package in MUST_MATCH))
    return found


def _wanted(package: str, version: str) -> str:
    return f"python {MUST_MATCH['python'](version)}" if package == "python" else f"{package}=={version}"


def fix(required: list[Difference], launcher: Mapping[str, str]) -> str:
    """What to change: the Dask images, towards the versions the launcher runs."""
    wanted = ", ".join(_wanted(d.package, launcher[d.package]) for d in required if d.package in launcher)
    elsewhere = {
        where
        for d in required
        for version, places in d.places.items()
        if d.package not in launcher or MUST_MATCH[d.package](version) != MUST_MATCH[d.package](launcher[d.package])
        for where in places
    }
    steps = []
    if any(where.startswith("worker ") for where in elsewhere):
        steps.append(
            f"set dask_cluster.worker_config.image (or the chart's workerImage) to an image with {wanted}, "
            "the versions the launcher runs"
        )
    if SCHEDULER in elsewhere:
        steps.append(
            f"run the scheduler from an image with {wanted}: it is the launcher's --scheduler-image "
            "(the chart's image.repository and image.tag, which the launcher itself runs)"
        )
    return "; ".join(steps) or f"give every Dask process {wanted}"


def check(versions: Mapping[str, Any], names: Mapping[str, Any] | None = None) -> None:
    """Raise VersionMismatch when a MUST_MATCH package differs; log any other difference."""
    found = differences(versions, names)
    required = [d for d in found if d.required]
    others = [d for d in found if not d.required]
    if others:
        log.warning(
            "package versions differ between launcher, scheduler and workers (results may differ):\n  %s",
            "\n  ".join(d.line() for d in others),
        )
    if required:
        raise VersionMismatch(
            "the Dask processes of this run differ in packages that must match, so the function "
            "was not started (its tasks would fail to unpickle or be misread):\n  "
            + "\n  ".join(d.line() for d in required)
            + f"\nfix: {fix(required, packages(versions.get('client')))}"
        )
    if not others:
        log.info("package versions match on launcher, scheduler and workers")


def refusal(reference: Mapping[str, Any], address: str, name: Any, worker: Mapping[str, Any]) -> str | None:
    """Why a worker joining a running cluster must not get tasks, or None: its versions of the
    MUST_MATCH packages against the launcher's (`reference`, a `get_versions()` client entry)."""
    required = [
        d for d in differences({"client": reference, "workers": {address: worker}}, {address: name}) if d.required
    ]
    if not required:
        return None
    return (
        f"{worker_place(address, name)} joined with packages that differ from the launcher's and "
        "was closed before it got any task:\n  "
        + "\n  ".join(d.line() for d in required)
        + f"\nfix: {fix(required, packages(reference))}"
    )
