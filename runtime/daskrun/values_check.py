"""One answer to "is this values file valid?", for every command that reads one.

`run`, `validate`, `submit` and `preflight` take the same file: the run's config keys and the
chart's settings for the Dask pods. They all check it here, every bad key reported at once, so
no command accepts a file that another refuses: `submit` and `preflight` used to check the
config keys only, and a Dask-pod setting the launcher refuses was found after the install.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from daskrun.config import Config, ConfigError, parse_config, read_config_file
from daskrun.dask_pods import DaskPods, check_read_only_root, parse_dask_pods


def default_release(function: str) -> str:
    """A release name from the function: `pkg.mod.run_benchmark` -> `run-benchmark`."""
    name = re.split(r"[.:]", function)[-1].lower()
    name = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")
    if not name or not name[0].isalpha():
        name = f"daskrun-{name}".rstrip("-")
    return name[:53].rstrip("-")


@dataclass(frozen=True)
class CheckedValues:
    values: dict[str, Any]  # as read, with Helm's scalar rules: what the chart is given
    config: Config
    pods: DaskPods
    release: str | None  # the one given, else the default (with `default_release_name`), else None


def check_values(
    source: str | os.PathLike[str] | dict[str, Any],
    release: str | None = None,
    *,
    default_release_name: bool = False,
) -> CheckedValues:
    """The config and the Dask pods' settings of a values file (or dict); ConfigError names
    every bad key of both. `release` names the Dask pods' ServiceAccount as the chart would;
    without one and with `default_release_name`, the release `daskrun submit` would choose."""
    label = None if isinstance(source, dict) else str(source)
    values = source if isinstance(source, dict) else read_config_file(source)
    errors: list[tuple[str, str]] = []
    config = None
    try:
        config = parse_config(values, label)
    except ConfigError as exc:
        errors += exc.errors
    if config is not None and release is None and default_release_name:
        release = default_release(config.run.function)
    pods = None
    try:
        pods = parse_dask_pods(values, release, label)
    except ConfigError as exc:
        errors += exc.errors
    if errors or config is None or pods is None:
        raise ConfigError(errors, label)
    check_read_only_root(pods, config.dask_cluster.worker_config.setup, label)
    return CheckedValues(values, config, pods, release)
