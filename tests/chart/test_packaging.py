"""The chart as the runtime ships and checks it: inside the wheel, and the Role preflight verifies."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from chart_render import CHART, ROOT, launcher_rbac, one, render_chart

from daskrun import preflight
from daskrun.chart_path import chart_path
from daskrun.context import CONTROLLER_MODES


def test_chart_path_is_the_repository_chart():
    assert (chart_path() / "Chart.yaml").read_text() == (CHART / "Chart.yaml").read_text()


def _rules_as_needs(controller: str) -> set[preflight.Need]:
    rules = launcher_rbac(render_chart({"controller": {"mode": controller}}), "Role")["rules"]
    needs = set()
    for rule in rules:
        if rule.get("resourceNames"):
            continue  # the helm test's read of this revision's Job
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                name, _, sub = resource.partition("/")
                for verb in rule["verbs"]:
                    needs.add(preflight.Need(group, name, verb, sub))
    return needs


@pytest.mark.parametrize("controller", CONTROLLER_MODES)
def test_preflight_checks_exactly_what_the_role_grants(controller):
    assert set(preflight.required(controller)) == _rules_as_needs(controller)



def test_built_wheel_contains_the_chart(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = tmp_path.glob("daskrun-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted(CHART.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            member = "daskrun/chart/" + path.relative_to(CHART).as_posix()
            assert member in names, f"{member} missing from {wheel.name}"
    assert "daskrun/chart/templates/job.yaml" in names and "daskrun/chart/.helmignore" in names
    assert "daskrun/submit.py" in names and "daskrun/preflight.py" in names
