"""`daskrun run --local --isolated`: the run's installs go to a throw-away environment.

A local run installs `setup.pip_packages` and `git_repository.install` into the interpreter
it runs in. With `--isolated` the run is started again in a fresh virtual environment laid
over this one (as `uv run --with` does): everything installed here stays importable, what the
setup installs lands in the overlay and shadows it, and the overlay is deleted afterwards.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from daskrun.bootstrap import BASE_SITE_PROGRAM, PIP_SHIM

log = logging.getLogger(__name__)

ISOLATED_ENV = "DASKRUN_ISOLATED"  # set in the run inside the overlay


def make_overlay(root: Path) -> Path:
    """A venv in `root` that sees this environment's packages beneath its own; its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = subprocess.run([sys.executable, "-c", BASE_SITE_PROGRAM], check=True, capture_output=True, text=True)
    Path(own_site, "_daskrun_base_environment.pth").write_text(lines.stdout)
    # A `pip` on the overlay's PATH for install commands such as `pip install ./sub`: it runs
    # in the overlay's interpreter, so it installs there.
    (venv / "bin" / "pip").write_text(PIP_SHIM)
    (venv / "bin" / "pip").chmod(0o755)
    return python


def run_isolated(argv: Sequence[str]) -> int:
    """Run `daskrun ARGV` (without --isolated) in a fresh overlay; its exit code."""
    with tempfile.TemporaryDirectory(prefix="daskrun-isolated-") as root:
        python = make_overlay(Path(root))
        env = dict(os.environ, **{ISOLATED_ENV: "1"})
        # pip sees the packages beneath and adds only what is missing; uv would install the
        # whole dependency tree again into the overlay.
        if importlib.util.find_spec("pip") is not None:
            env["DASKRUN_PIP_INSTALLER"] = "pip"
        log.info("isolated: installs go to a throw-away environment over %s, removed after the run", sys.prefix)
        child = subprocess.Popen([str(python), "-m", "daskrun", *argv], env=env)
        # The child deletes its Dask cluster on SIGTERM; pass it on and wait for that.
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        return child.wait()
