"""Reading a config or chart values file (YAML or JSON) into a dict, errors naming the file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from daskrun.errors import ConfigError

NOT_A_MAPPING = "expected a mapping with `run`, `dask_cluster`, `output`"


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that reads floats as YAML 1.2 (and JSON, and Helm) do: `1e-5` is a number."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML or JSON file into a dict, with errors that name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        raise ConfigError([("(file)", f"not valid YAML or JSON: {exc}")], str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", NOT_A_MAPPING)], str(path))
    return data
