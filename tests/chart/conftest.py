"""Render tests of the Helm chart with a real Helm binary (helpers: tests/support/chart_render.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chart_render import HELM


def pytest_report_header(config: Any) -> str:
    try:
        version = subprocess.run([HELM, "version", "--short"], capture_output=True, text=True).stdout
    except OSError:
        version = "(not found)"
    return f"helm: {HELM} {version.strip()}"


@pytest.fixture(scope="session", autouse=True)
def _helm_present() -> None:
    if not Path(HELM).exists() and not shutil.which(HELM):
        pytest.fail(f"Helm binary {HELM!r} not found: run `make tools` or set HELM", pytrace=False)
