"""The version is written in three files the tools read separately; they must agree. Everything
else reads it: Python from daskrun.__version__, shell and make from tools/app_version.sh."""

import os
import subprocess
import tomllib

import yaml

from cli_runner import REPO, run_cli

from daskrun import __version__


def test_package_chart_and_runtime_agree_on_the_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((REPO / "chart" / "Chart.yaml").read_text())
    assert project == __version__ == chart["appVersion"], (
        f"pyproject.toml {project}, daskrun/_version.py {__version__}, Chart.yaml appVersion {chart['appVersion']}")
    assert chart["version"] == chart["appVersion"], "Chart.yaml: the chart version and the image tag move together"


def test_shell_reads_it_from_the_chart():
    printed = subprocess.run(["sh", str(REPO / "tools" / "app_version.sh")], capture_output=True, text=True, check=True)
    assert printed.stdout == f"{__version__}\n"


def test_the_cluster_scripts_default_image_is_of_this_version():
    env = {k: v for k, v in os.environ.items() if k != "IMAGE"}
    printed = subprocess.run(["bash", "-c", '. tests/cluster/lib.sh && echo "$IMAGE"'],
                             cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert printed.stdout == f"daskrun:{__version__}\n"


def test_the_cli_reports_it():
    assert run_cli("--version").stdout.strip() == f"daskrun {__version__}"
