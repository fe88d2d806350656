"""The generated bootstrap, executed for real with `sh`: git, pip (uv and plain pip), script."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daskrun.config import Setup
from daskrun.bootstrap import SETUP_FAILED_EXIT, bootstrap_script, run_launcher_setup
from daskrun.manifest import kubernetes_escape, worker_command

from builders import make_repo, make_wheel

WEIRD = "we ird $HOME `id` \\n 'q' \"dq\" $(echo x)"


def run_bootstrap(setup: Setup, tmp_path: Path, *command: str, env=None, python=None, read_only_root=False):
    script = bootstrap_script(setup, read_only_root=read_only_root)
    path = os.environ["PATH"]
    if python:
        path = f"{Path(python).parent}{os.pathsep}{path}"
    return subprocess.run(
        ["sh", "-c", script, "daskrun-setup", *command], capture_output=True, text=True,
        env={**os.environ, "PATH": path, "HOME": str(tmp_path / "home"), **(env or {})}, timeout=300,
    )


@pytest.fixture
def target_venv(tmp_path):
    """An empty interpreter environment to install into, so tests never touch the test venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python3"


def test_pip_packages_installed_with_uv(tmp_path, target_venv):
    wheel = make_wheel(tmp_path)
    assert shutil.which("uv"), "uv is part of the test environment"
    result = run_bootstrap(Setup(pip_packages=[str(wheel)]), tmp_path, python=target_venv)
    assert result.returncode == 0, result.stderr
    check = subprocess.run([target_venv, "-c", "import daskrun_probe; print(daskrun_probe.VALUE)"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "42"


def test_pip_packages_fall_back_to_pip_without_uv(tmp_path):
    venv = tmp_path / "pipvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = make_wheel(tmp_path)
    bindir = tmp_path / "bin-no-uv"
    bindir.mkdir()
    for tool in ("sh", "git", "mkdir", "rm", "cat"):
        (bindir / tool).symlink_to(shutil.which(tool))
    result = run_bootstrap(Setup(pip_packages=[str(wheel)]), tmp_path,
                           env={"PATH": f"{venv / 'bin'}{os.pathsep}{bindir}"})
    assert result.returncode == 0, result.stderr
    check = subprocess.run([venv / "bin" / "python3", "-c", "import daskrun_probe"], capture_output=True)
    assert check.returncode == 0


def test_pip_can_be_forced_where_uv_is_present(tmp_path):
    venv = tmp_path / "pipvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = make_wheel(tmp_path)
    result = run_bootstrap(Setup(pip_packages=[str(wheel)]), tmp_path, python=venv / "bin" / "python3",
                           env={"DASKRUN_PIP_INSTALLER": "pip", "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert shutil.which("uv") and "Successfully installed daskrun-probe" in result.stdout + result.stderr


def test_with_a_read_only_root_installs_go_to_an_environment_over_the_images(tmp_path):
    """The image's environment stays as it was; the package and its missing dependency land
    in the setup directory, what the image has already is not installed again, and the
    command exec'd at the end (the Dask process) runs in the new environment."""
    image = tmp_path / "image-venv"
    subprocess.run([sys.executable, "-m", "venv", str(image)], check=True)
    present = make_wheel(tmp_path, name="daskrun_present", body="WHERE = 'image'\n")
    subprocess.run([image / "bin" / "python", "-m", "pip", "install", "-q", str(present)], check=True)
    image_site = next((image / "lib").glob("python3*/site-packages"))
    before = sorted(p.name for p in image_site.iterdir())
    missing = make_wheel(tmp_path, name="daskrun_missing", body="")
    probe = make_wheel(tmp_path, requires=("daskrun_present", "daskrun_missing"))
    setup = Setup(pip_packages=[str(probe), str(missing)], git_repository=None)
    shown = "import sys, daskrun_probe, daskrun_present as p, daskrun_missing as m; print(sys.prefix, daskrun_probe.__file__, p.__file__, m.__file__)"
    result = run_bootstrap(setup, tmp_path, "python", "-c", shown, python=image / "bin" / "python", read_only_root=True)
    assert result.returncode == 0, result.stderr
    prefix, probe_at, present_at, missing_at = result.stdout.splitlines()[-1].split()
    environment = tmp_path / "home" / "daskrun-setup" / "environment"
    assert Path(prefix) == environment
    assert Path(probe_at).is_relative_to(environment) and Path(missing_at).is_relative_to(environment)
    assert Path(present_at).is_relative_to(image_site)
    assert sorted(p.name for p in image_site.iterdir()) == before
    assert "running step 'writable_environment'" in result.stderr


def test_without_installs_a_read_only_root_makes_no_environment(tmp_path):
    assert "writable_environment" not in bootstrap_script(Setup(script="x.sh"), read_only_root=True)
    assert "writable_environment" not in bootstrap_script(Setup(pip_packages=["x"]))


def test_git_repository_at_reference_with_install(tmp_path):
    bare = make_repo(tmp_path)
    marker = tmp_path / "installed"
    setup = Setup(git_repository={"url": str(bare), "reference": "feature",
                                  "install": f"test -f probe_repo.py && touch {marker}"})
    result = run_bootstrap(setup, tmp_path, sys.executable, "-c",
                           "import probe_repo; print(probe_repo.version())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"  # the feature branch, importable via PYTHONPATH
    assert marker.exists()


def test_git_repository_default_branch_without_install(tmp_path):
    bare = make_repo(tmp_path)
    result = run_bootstrap(Setup(git_repository={"url": str(bare)}), tmp_path, sys.executable, "-c",
                           "import probe_repo; print(probe_repo.version())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_script_runs_then_the_worker_starts_even_if_script_execs(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text(f"echo ran > {tmp_path / 'script-ran'}\nexec true\n")
    result = run_bootstrap(Setup(script=str(script)), tmp_path, "sh", "-c", "echo WORKER-STARTED")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "script-ran").exists()
    assert "WORKER-STARTED" in result.stdout


def test_values_with_shell_syntax_arrive_unchanged(tmp_path):
    weird_dir = tmp_path / WEIRD
    weird_dir.mkdir()
    script = weird_dir / "setup.sh"
    script.write_text('printf "%s" "$0" > "$(dirname "$0")/seen"\n')
    bare = make_repo(weird_dir, dirname="repo $PATH `x`")
    setup = Setup(script=str(script), git_repository={"url": str(bare), "install": "printf '%s' \"$HOME\" > home"})
    result = run_bootstrap(setup, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (weird_dir / "seen").read_text() == str(script)
    # The install command itself is a shell command by design: its own $HOME is expanded, once.
    assert (tmp_path / "home" / "daskrun-setup" / "repository" / "home").read_text() == str(tmp_path / "home")


@pytest.mark.parametrize("setup,step", [
    (Setup(pip_packages=["/nonexistent/missing-1.0-py3-none-any.whl"]), "pip_packages"),
    (Setup(git_repository={"url": "/nonexistent/repo.git"}), "git_repository"),
    (Setup(git_repository={"url": "REPO", "reference": "no-such-branch"}), "git_repository"),
    (Setup(git_repository={"url": "REPO", "install": "exit 9"}), "git_repository.install"),
    (Setup(script="/nonexistent/setup.sh"), "script"),
])
def test_a_failing_step_stops_setup_and_is_named(tmp_path, target_venv, setup, step):
    if setup.git_repository and setup.git_repository.url == "REPO":
        repo = setup.git_repository.model_copy(update={"url": str(make_repo(tmp_path))})
        setup = setup.model_copy(update={"git_repository": repo})
    result = run_bootstrap(setup, tmp_path, "sh", "-c", "echo WORKER-STARTED", python=target_venv)
    assert result.returncode != 0
    assert f"step '{step}' failed" in result.stderr
    assert "WORKER-STARTED" not in result.stdout


def test_failing_script_reports_its_exit_code(tmp_path):
    script = tmp_path / "bad.sh"
    script.write_text("exit 7\n")
    result = run_bootstrap(Setup(script=str(script)), tmp_path, "true")
    # The pod exits with the bootstrap's own code (no restart mends it); the log names the step's.
    assert result.returncode == SETUP_FAILED_EXIT
    assert "step 'script' failed with exit code 7" in result.stderr


def test_apt_step_updates_then_installs_noninteractively():
    script = bootstrap_script(Setup(apt_packages=["libgomp1", "curl"]))
    update = script.index("apt-get update")
    install = script.index("apt-get install -y --no-install-recommends libgomp1 curl")
    assert update < install
    assert "DEBIAN_FRONTEND=noninteractive" in script


def test_steps_run_in_the_documented_order():
    script = bootstrap_script(Setup(apt_packages=["a"], pip_packages=["b"], git_repository={"url": "c"},
                                    script="/d.sh"))
    order = [script.index(f"step {name}") for name in ("apt_packages", "pip_packages", "git_repository", "script")]
    assert order == sorted(order)
    assert script.rstrip().endswith('exec "$@"; fi')


def test_kubelet_expansion_is_neutralised():
    assert kubernetes_escape("a $(HOME) $$ $x") == "a $$(HOME) $$$$ $$x"
    command = worker_command(Setup(pip_packages=["$(HOME)"]))
    assert command[:2] == ["sh", "-c"] and "'$$(HOME)'" in command[2]
    assert worker_command(Setup()) is None


def test_launcher_setup_installs_into_this_interpreter_and_imports_from_the_clone(tmp_path, monkeypatch):
    bare = make_repo(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "")
    paths = run_launcher_setup(Setup(git_repository={"url": str(bare), "reference": "feature"}), tmp_path / "w").paths
    import importlib

    module = importlib.import_module("probe_repo")
    try:
        assert module.version() == 2
        assert paths == [str(tmp_path / "w" / "repository")]
        assert os.environ["PYTHONPATH"].startswith(paths[0])
    finally:
        sys.modules.pop("probe_repo", None)


def test_launcher_setup_failure_raises(tmp_path):
    from daskrun.errors import SetupError

    with pytest.raises(SetupError, match="exit code"):
        run_launcher_setup(Setup(git_repository={"url": "/nonexistent"}), tmp_path)
