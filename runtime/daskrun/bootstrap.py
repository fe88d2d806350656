"""Worker bootstrap: a POSIX ``sh`` script built from ``worker_config.setup``.

The same script prepares a worker pod (then ``exec``s the dask worker) and the launcher
(pip and git only, into its own interpreter). Every config value is single-quoted with
``shlex.quote``, so no shell ever expands ``$VAR``, backticks or backslashes in it.
"""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from daskrun.config import Setup
from daskrun.errors import SetupError

STEPS = ("apt_packages", "pip_packages", "git_repository", "script")
LAUNCHER_STEPS = ("pip_packages", "git_repository")

_PRELUDE = r"""set -eu
daskrun_step=start
daskrun_report() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "daskrun-setup: step '$daskrun_step' failed with exit code $status" >&2
  fi
}
trap daskrun_report EXIT
step() {
  daskrun_step=$1
  echo "daskrun-setup: $(date -u +%H:%M:%S) running step '$1'" >&2
}
daskrun_python=$(command -v python3 || command -v python)
: "${DASKRUN_SETUP_DIR:=${HOME:-/tmp}/daskrun-setup}"
mkdir -p "$DASKRUN_SETUP_DIR"
"""

_FINALE = r"""daskrun_step=done
echo "daskrun-setup: $(date -u +%H:%M:%S) done" >&2
trap - EXIT
if [ "$#" -gt 0 ]; then exec "$@"; fi
"""


def _quote_all(values: list[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


def bootstrap_script(setup: Setup, steps: tuple[str, ...] = STEPS) -> str:
    """The sh script that performs `steps` of `setup` in order, then execs "$@"."""
    lines = [_PRELUDE]
    if "apt_packages" in steps and setup.apt_packages:
        lines += [
            "step apt_packages",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get update",
            f"apt-get install -y --no-install-recommends {_quote_all(setup.apt_packages)}",
        ]
    if "pip_packages" in steps and setup.pip_packages:
        packages = _quote_all(setup.pip_packages)
        lines += [
            "step pip_packages",
            # uv is much faster than pip; images without it still work, and
            # DASKRUN_PIP_INSTALLER=pip (worker env) forces pip where uv misbehaves.
            'if [ "${DASKRUN_PIP_INSTALLER:-auto}" != pip ] && command -v uv >/dev/null 2>&1; then',
            f'  uv pip install --python "$daskrun_python" {packages}',
            "else",
            f'  "$daskrun_python" -m pip install --no-input {packages}',
            "fi",
        ]
    if "git_repository" in steps and setup.git_repository:
        repo = setup.git_repository
        lines += [
            "step git_repository",
            'daskrun_repo="$DASKRUN_SETUP_DIR/repository"',
            'rm -rf "$daskrun_repo"',
            f'git clone --quiet -- {shlex.quote(repo.url)} "$daskrun_repo"',
        ]
        if repo.reference:
            lines.append(
                f'git -C "$daskrun_repo" -c advice.detachedHead=false checkout --quiet '
                f"{shlex.quote(repo.reference)} --"
            )
        if repo.install:
            lines += [
                "step git_repository.install",
                f'(cd "$daskrun_repo" && sh -c {shlex.quote(repo.install)})',
            ]
        lines.append('export PYTHONPATH="$daskrun_repo${PYTHONPATH:+:$PYTHONPATH}"')
    if "script" in steps and setup.script:
        lines += [
            "step script",
            # A separate shell, so the script's own `exit` or `exec` cannot replace the worker.
            f"if command -v bash >/dev/null 2>&1; then bash {shlex.quote(setup.script)}; "
            f"else sh {shlex.quote(setup.script)}; fi",
        ]
    lines.append(_FINALE)
    return "\n".join(lines)


def run_launcher_setup(setup: Setup, workdir: Path) -> list[str]:
    """Run the pip and git steps for this interpreter; return the paths to import from."""
    if not any(getattr(setup, step) for step in LAUNCHER_STEPS):
        return []
    script = bootstrap_script(setup, LAUNCHER_STEPS)
    env = dict(os.environ, DASKRUN_SETUP_DIR=str(workdir))
    # The launcher's own interpreter first on PATH, so `python3` in the script is this one.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    completed = subprocess.run(["sh", "-c", script, "daskrun-setup"], env=env)
    if completed.returncode != 0:
        raise SetupError(
            f"launcher setup failed with exit code {completed.returncode}; "
            "the failing step is named in the log above"
        )
    paths = []
    if setup.git_repository:
        repo = str(workdir / "repository")
        paths.append(repo)
        if repo not in sys.path:
            sys.path.insert(0, repo)
        # Local worker processes inherit the environment, not sys.path.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (repo, os.environ.get("PYTHONPATH")) if p
        )
    importlib.invalidate_caches()
    return paths
