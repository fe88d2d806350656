"""Reading a config or chart values file (YAML or JSON) into a dict, errors naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from daskrun import helm_scalars, safe_yaml
from daskrun.errors import ConfigError

NOT_A_MAPPING = "expected a mapping with `run`, `dask_cluster`, `output`"


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML or JSON file into a dict, with errors that name the file."""
    path = Path(path)
    try:
        # Read with a bound, not by the size a stat reports: a pipe, /dev/zero or a FIFO has none.
        with open(path, "rb") as handle:
            raw = handle.read(safe_yaml.MAX_BYTES + 1)
        if len(raw) > safe_yaml.MAX_BYTES:
            raise ConfigError(
                [
                    (
                        "(file)",
                        f"larger than {safe_yaml.MAX_BYTES} bytes; pass large "
                        "inputs as a file or URL the function reads",
                    )
                ],
                str(path),
            )
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([("(file)", f"not UTF-8 text (byte {exc.start}): save it as UTF-8")], str(path)) from None
    return parse_config_text(text, str(path))


def parse_config_text(text: str, source: str) -> dict[str, Any]:
    """The dict of a config's YAML or JSON text (a file's, or a ConfigMap's), errors naming `source`."""
    try:
        data = safe_yaml.load(text)
    except safe_yaml.YamlLimitError as exc:
        raise ConfigError([("(file)", str(exc))], source) from None
    except helm_scalars.DisputedValue as exc:
        raise ConfigError([(exc.path, exc.message)], source) from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. an int of 5000 digits
        raise ConfigError([("(file)", f"not valid YAML or JSON: {exc}")], source) from None
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", NOT_A_MAPPING)], source)
    return data
