"""The version is written in three files the tools read separately; they must agree."""

import tomllib

import yaml

from cli_runner import REPO, run_cli

from daskrun import __version__


def test_package_chart_and_runtime_agree_on_the_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((REPO / "chart" / "Chart.yaml").read_text())
    assert project == __version__ == chart["appVersion"], (
        f"pyproject.toml {project}, daskrun/_version.py {__version__}, Chart.yaml appVersion {chart['appVersion']}")


def test_the_cli_reports_it():
    assert run_cli("--version").stdout.strip() == f"daskrun {__version__}"
