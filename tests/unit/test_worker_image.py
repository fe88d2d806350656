"""The worker image holds what a worker process imports, at the launcher's versions.

The image itself is built and run by the cluster suite (every e2e worker runs it); these tests
hold its package list (image/worker-packages.txt) to pyproject.toml and to the code that runs
on a worker: the example's tasks and the drain hook's program.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from daskrun import worker_drain

REPO = Path(__file__).resolve().parents[2]
PACKAGES = REPO / "image" / "worker-packages.txt"


def worker_packages() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in PACKAGES.read_text().splitlines())
    return [line for line in lines if line]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: list[str]) -> set[str]:
    """The distributions `names` install, with their dependencies (no extras), as installed here."""
    found: set[str] = set()
    todo = [canonical(n) for n in names]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return found


def test_every_worker_package_is_a_dependency_of_daskrun():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = {canonical(Requirement(d).name) for d in project["dependencies"]}
    assert worker_packages(), "image/worker-packages.txt names no package"
    missing = [p for p in worker_packages() if canonical(p) not in dependencies]
    assert not missing, f"{missing}: the worker image would get versions the launcher does not pin"


def test_the_dockerfile_builds_the_worker_environment_from_the_list_at_the_launchers_versions():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY image/worker-packages.txt" in dockerfile
    assert "-c /dist/launcher-versions.txt -r /dist/worker-packages.txt" in dockerfile
    assert re.search(r"^FROM runtime AS worker$", dockerfile, re.M)


# Run first in the child: the modules of every distribution outside the worker image cannot be
# imported, as they would be absent there (an optional import, such as pandas' of pyarrow,
# takes its fallback the same way).
_ABSENT = """
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Absent())
"""


def run_as_on_a_worker(program: str, allowed: set[str]) -> subprocess.CompletedProcess[str]:
    owners = metadata.packages_distributions()
    blocked = {top for top, dists in owners.items() if not {canonical(d) for d in dists} & allowed}
    blocked -= set(sys.stdlib_module_names)
    return subprocess.run(
        [sys.executable, "-c", f"BLOCKED = {sorted(blocked)!r}\n{_ABSENT}\n{program}"],
        capture_output=True,
        text=True,
    )


def test_the_examples_tasks_run_with_only_what_the_worker_image_has():
    program = (
        "import daskrun.examples.benchmark, daskrun.examples.counted, daskrun.examples.echo, daskrun.examples.load\n"
        "import pandas, numpy\n"
        "assert len(pandas.DataFrame({'x': numpy.arange(3)})) == 3\n"
    )
    result = run_as_on_a_worker(program, closure(worker_packages()) | {"daskrun"})
    assert result.returncode == 0, result.stderr


def test_the_drain_hook_runs_with_only_what_the_worker_image_has():
    program = worker_drain.DRAIN.split("name, deadline", 1)[0]  # its imports and functions, not the call
    result = run_as_on_a_worker(program, closure(worker_packages()))
    assert result.returncode == 0, result.stderr


def test_the_check_refuses_what_the_worker_image_lacks():
    result = run_as_on_a_worker("import pyarrow", closure(worker_packages()))
    assert "No module named 'pyarrow'" in result.stderr


def test_the_worker_image_leaves_out_the_launchers_heavy_packages():
    for heavy in ("kubernetes", "kubernetes-asyncio", "dask-kubernetes", "pyarrow", "boto3", "bokeh", "uv"):
        assert heavy not in closure(worker_packages()), f"{heavy} would be in the worker image"
