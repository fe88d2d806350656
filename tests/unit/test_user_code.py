"""A user's own code in every process: git_repository.subdirectory, setup.python_path and
setup.preload -- config checks, the bootstrap run for real with `sh`, the launcher, and a
third-party shaped repository served over HTTP run end to end with `--local`."""

import json
import os
import posixpath
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from daskrun.bootstrap import LauncherCode, bootstrap_script, run_launcher_setup
from daskrun.config import Setup, parse_config
from daskrun.errors import ConfigError, SetupError
from daskrun.manifest import scheduler_command, worker_command
from daskrun.user_code import preload_kind, relative_path_problem

from builders import SUB_PACKAGE, THIRD_PARTY, make_tree_repo, third_party_expected, third_party_setup
from cli_runner import run_cli


def config_with(setup: dict, **run) -> dict:
    return {"run": {"function": "tuning_bench.tasks:run_benchmark", **run},
            "dask_cluster": {"workers": 2, "worker_config": {"setup": setup}}}


@pytest.fixture(scope="module")
def third_party(http_root, tmp_path_factory):
    """The third-party repository, served over HTTP (git's dumb protocol)."""
    root, url = http_root
    shutil.copytree(make_tree_repo(tmp_path_factory.mktemp("build"), "tuning.git", THIRD_PARTY),
                    root / "tuning.git")
    return f"{url}/tuning.git"


def run_sh(script: str, home: Path, *command: str, env=None):
    return subprocess.run(["sh", "-c", script, "daskrun-setup", *command], capture_output=True,
                          text=True, env={**os.environ, "HOME": str(home), **(env or {})}, timeout=300)


# --- config -------------------------------------------------------------------------------

@pytest.mark.parametrize("setup,key,message", [
    ({"python_path": ["lib"]}, "setup.python_path[0]", "no git_repository to be relative to"),
    ({"preload": ["compat/shim.py"]}, "setup.preload[0]", "no git_repository to be relative to"),
    ({"git_repository": {"url": "u"}, "python_path": ["../elsewhere"]}, "setup.python_path[0]", "leaves the clone"),
    ({"git_repository": {"url": "u"}, "python_path": ["a:b"]}, "setup.python_path[0]", "separates PYTHONPATH"),
    ({"git_repository": {"url": "u", "subdirectory": "/abs"}}, "git_repository.subdirectory", "relative path inside"),
    ({"git_repository": {"url": "u", "subdirectory": "a/../.."}}, "git_repository.subdirectory", "relative path inside"),
    ({"preload": ["2fast"]}, "setup.preload[0]", "neither a module name"),
    ({"preload": ["import os\nos.getcwd("]}, "setup.preload[0]", "does not compile"),
    ({"preload": [""]}, "setup.preload[0]", ""),
])
def test_bad_code_settings_name_the_key(setup, key, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(config_with(setup))
    assert any(path.endswith(key) and message in text for path, text in raised.value.errors), raised.value


def test_an_invalid_repository_is_the_one_error_not_every_relative_path():
    with pytest.raises(ConfigError) as raised:
        parse_config(config_with({"git_repository": {"url": "u", "subdirectory": "/x"}, "python_path": ["lib"]}))
    assert [path.rsplit(".", 1)[-1] for path, _ in raised.value.errors] == ["subdirectory"]


def test_absolute_paths_and_modules_need_no_repository():
    setup = parse_config(config_with({"python_path": ["/opt/code"], "preload": ["/opt/shim.py", "pkg.patch",
                                                                              "import os\n"]}))
    assert setup.dask_cluster.worker_config.setup.preload[1] == "pkg.patch"


@given(st.text(max_size=40), st.booleans())
def test_any_preload_text_is_accepted_or_named(entry, with_repository):
    setup = {"preload": [entry], **({"git_repository": {"url": "u"}} if with_repository else {})}
    try:
        parse_config(config_with(setup))
    except ConfigError as exc:
        assert [path for path, _ in exc.errors] == ["dask_cluster.worker_config.setup.preload[0]"]


@given(st.text(min_size=1, max_size=30))
def test_preload_kinds_follow_dask(entry):
    kind = preload_kind(entry)
    assert (kind == "file") == entry.endswith(".py")
    if kind == "module":
        assert " " not in entry  # what Dask takes for a module name, too


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "c d", "$x"]), min_size=1, max_size=6))
def test_accepted_relative_paths_stay_inside_the_clone(parts):
    path = "/".join(parts)
    if relative_path_problem(path, has_repository=True) is None:
        assert posixpath.normpath(posixpath.join("/clone", path)).startswith("/clone")


# --- the bootstrap, for real ---------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters=":/\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=12).filter(lambda s: s not in (".", "..")))
def test_python_path_folder_names_arrive_unchanged(tmp_path_factory, name):
    home = tmp_path_factory.mktemp("home")
    repo = home / "daskrun-setup" / "repository"
    (repo / name).mkdir(parents=True)
    setup = Setup(python_path=[name, str(home)], git_repository={"url": "unused"})
    # Only the path lines: the clone is already there.
    script = bootstrap_script(setup, ("python_path",)).replace(
        "step python_path", f'daskrun_repo="$DASKRUN_SETUP_DIR/repository"\nstep python_path')
    # JSON: text-mode pipes would turn a '\r' in a name into a line break.
    result = run_sh(script, home, sys.executable, "-c", "import json, os; print(json.dumps(os.environ['PYTHONPATH']))",
                    env={"PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout).split(":") == [str(repo), str(repo / name), str(home)]


def test_subdirectory_is_installed_and_imported_from(tmp_path, third_party):
    marker = "touch installed-here"
    setup = Setup(git_repository={"url": third_party, "subdirectory": "benchmark", "install": marker})
    result = run_sh(bootstrap_script(setup), tmp_path, sys.executable, "-c",
                    "import tuning_bench, os; print(os.environ['PYTHONPATH'].split(':')[0])")
    assert result.returncode == 0, result.stderr
    clone = tmp_path / "daskrun-setup" / "repository"
    assert result.stdout.strip() == str(clone / "benchmark")
    assert (clone / "benchmark" / "installed-here").exists()


def test_preloads_become_dask_arguments_in_order(tmp_path, third_party):
    source = "import os\nprint('inline ran')\n"
    setup = Setup(git_repository={"url": third_party}, preload=["compat/shim.py", "json", source, "/etc/x.py"])
    (tmp_path / "x.py").write_text("")
    setup = setup.model_copy(update={"preload": [*setup.preload[:3], str(tmp_path / "x.py")]})
    result = run_sh(bootstrap_script(setup), tmp_path, "printf", "%s\\n")
    assert result.returncode == 0, result.stderr
    clone = tmp_path / "daskrun-setup" / "repository"
    inline = tmp_path / "daskrun-setup" / "daskrun_preload_3.py"
    assert result.stdout.splitlines() == ["--preload", str(clone / "compat" / "shim.py"), "--preload", "json",
                                          "--preload", str(inline), "--preload", str(tmp_path / "x.py")]
    assert inline.read_text() == source + "\n"


@pytest.mark.parametrize("setup,step,message", [
    ({"subdirectory": "nope"}, "git_repository", "git_repository.subdirectory nope is not a folder"),
    ({"python_path": ["missing"]}, "python_path", "python_path entry missing is not a folder"),
    ({"preload": ["compat/missing.py"]}, "preload", "preload file compat/missing.py not found"),
    ({"preload": ["no_such_module_here"]}, "preload", "preload module no_such_module_here not found"),
])
def test_a_missing_folder_file_or_module_fails_its_step(tmp_path, third_party, setup, step, message):
    repository = {"url": third_party, **({"subdirectory": setup.pop("subdirectory")} if "subdirectory" in setup else {})}
    script = bootstrap_script(Setup(git_repository=repository, **setup))
    result = run_sh(script, tmp_path, "sh", "-c", "echo WORKER-STARTED")
    assert result.returncode != 0
    assert message in result.stderr and f"step '{step}' failed" in result.stderr
    assert "WORKER-STARTED" not in result.stdout


def test_scheduler_and_workers_get_path_and_preload_without_pip_or_git():
    setup = Setup(python_path=["/opt/code"], preload=["pkg.patch"])
    for command in (scheduler_command(setup), worker_command(setup)):
        assert "/opt/code" in command[2] and "--preload pkg.patch" in command[2]
    assert scheduler_command(Setup(apt_packages=["jq"])) is None


def test_pip_install_of_a_sub_package(tmp_path, http_root):
    root, url = http_root
    shutil.copytree(make_tree_repo(tmp_path, "subpkg.git", SUB_PACKAGE), root / "subpkg.git")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    setup = Setup(git_repository={"url": f"{url}/subpkg.git", "install": "pip install ./sub"})
    result = run_sh(bootstrap_script(setup), tmp_path / "home",
                    env={"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    # Installed: importable with no clone on the path, from anywhere.
    check = subprocess.run([venv / "bin" / "python", "-c", "import subpkg_probe; print(subpkg_probe.VALUE)"],
                           capture_output=True, text=True, cwd="/")
    assert check.stdout.strip() == "7", check.stderr


# --- the launcher ---------------------------------------------------------------------------

def test_launcher_imports_from_the_sub_folder_after_its_preload(tmp_path, third_party, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "")
    setup = Setup(git_repository={"url": third_party, "subdirectory": "benchmark"}, python_path=["lib"],
                  preload=["compat/shim.py"])
    clone = tmp_path / "repository"
    try:
        code = run_launcher_setup(setup, tmp_path)
        assert code == LauncherCode([str(clone / "benchmark"), str(clone / "lib")], [str(clone / "compat" / "shim.py")])
        assert os.environ["PYTHONPATH"] == f"{clone / 'benchmark'}:{clone / 'lib'}"
        from tuning_bench import tasks  # needs the shim and lib/

        assert tasks.score(3)["score"] == 109
    finally:
        for name in ("tuning_bench", "tuning_bench.tasks", "bench_helpers", "legacy_collections", "shim"):
            sys.modules.pop(name, None)


def test_a_preload_that_raises_in_the_launcher_is_a_setup_error(tmp_path):
    with pytest.raises(SetupError, match=r"setup.preload\[0\].*ZeroDivisionError"):
        run_launcher_setup(Setup(preload=["x = 1 / 0\n"]), tmp_path)


def test_dry_run_shows_preload_and_path_in_scheduler_and_worker(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_with(third_party_setup("https://example.com/t.git"))))
    result = run_cli("run", str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    for role in ("scheduler", "worker"):
        script = manifest["spec"][role]["spec"]["containers"][0]["command"][2]
        assert 'export PYTHONPATH="$$daskrun_repo"/benchmark:"$$daskrun_repo"/lib' in script, role
        assert '--preload "$$daskrun_repo"/compat/shim.py' in script, role
    assert "\n  - |\n" in result.stdout or "- |" in result.stdout  # the scripts print as blocks


# --- end to end, locally --------------------------------------------------------------------

@pytest.mark.slow
def test_third_party_repository_runs_locally_with_the_right_frame(tmp_path, third_party):
    config = config_with(third_party_setup(third_party), args={"rounds": 6})
    config["output"] = {"path": "out/bench.csv"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    result = run_cli("run", "c.yaml", "--local", cwd=tmp_path, env={"TMPDIR": str(tmpdir)})
    assert result.returncode == 0, result.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "bench.csv"), third_party_expected(6))
    assert list(tmpdir.glob("daskrun-setup-*")) == []  # the clone went with the run


@pytest.mark.slow
def test_without_the_preload_the_tasks_do_not_import(tmp_path, third_party):
    setup = {**third_party_setup(third_party), "preload": []}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_with(setup)))
    result = run_cli("run", "c.yaml", "--local", cwd=tmp_path)
    assert result.returncode == 2
    assert "legacy_collections" in result.stderr


@pytest.mark.slow
def test_isolated_local_run_installs_the_sub_package_into_a_throw_away_environment(tmp_path, http_root):
    root, url = http_root
    shutil.copytree(make_tree_repo(tmp_path, "subpkg-iso.git", SUB_PACKAGE), root / "subpkg-iso.git")
    config = {"run": {"function": "subpkg_probe:frame"},
              "dask_cluster": {"workers": 1, "worker_config": {"setup": {"git_repository": {
                  "url": f"{url}/subpkg-iso.git", "install": "pip install ./sub"}}}},
              "output": {"path": "r.csv"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("run", "c.yaml", "--local", "--isolated", cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert pd.read_csv(tmp_path / "r.csv")["value"].tolist() == [7]
    assert subprocess.run([sys.executable, "-c", "import subpkg_probe"], capture_output=True).returncode != 0
    assert list(tmp_path.glob("daskrun-*")) == []
