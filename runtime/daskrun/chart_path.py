"""Where the daskrun Helm chart is: inside the installed package, or the repository's chart/.

The wheel ships the chart as package data (``daskrun/chart``, from the symlink
``runtime/daskrun/chart -> ../../chart`` in the repository), so ``daskrun submit`` works from
an installed wheel with the very chart the repository tests. There is no second copy of the
manifests in Python.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path


def chart_path() -> Path:
    """The directory holding the chart's Chart.yaml."""
    packaged = Path(str(resources.files("daskrun"))) / "chart"
    if (packaged / "Chart.yaml").is_file():
        return packaged
    repository = Path(__file__).resolve().parents[2] / "chart"
    if (repository / "Chart.yaml").is_file():
        return repository
    raise FileNotFoundError(
        f"the daskrun Helm chart is missing: neither {packaged} nor {repository} has a Chart.yaml "
        "(reinstall daskrun from a wheel built from the repository)"
    )


@functools.cache
def chart_keys() -> frozenset[str]:
    """The chart's own top-level values keys (chart/schema/chart-keys.json, shipped in the wheel).

    A values file of the chart is a valid config file; any other top-level key is a typo.
    """
    keys = json.loads((chart_path() / "schema" / "chart-keys.json").read_text())
    # The pod settings are written once, as a definition, and are top-level keys as well.
    return frozenset(keys["properties"]) | frozenset(keys["$defs"]["PodSettings"]["properties"])
