"""What a new user tripped over: a broken Parquet engine found only after the run, `validate`
blind to a misspelt function, a 'did you mean' cut at 12 names, result files 0600 whatever
the umask, empty daskrun-setup-* folders, None's exit code, silent installs by --local."""

import json
import os
import stat
import textwrap

import pandas as pd
import pytest
import yaml

from daskrun import invoke
from daskrun.config import Output
from daskrun.output import store

from cli_runner import run_cli

HERE = os.path.dirname(__file__)


def write(tmp_path, config, name="c.yaml"):
    (tmp_path / name).write_text(json.dumps(config))  # JSON: the key `n` stays a name
    return str(tmp_path / name)


@pytest.fixture
def broken_engines(tmp_path):
    """pyarrow and fastparquet that install fine and fail on import, as a pyarrow built for
    another numpy does; first on PYTHONPATH of the processes a test starts."""
    root = tmp_path / "broken"
    for name in ("pyarrow", "fastparquet"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(
            "raise ImportError('numpy.core.multiarray failed to import (built against numpy 1.x)')\n")
    return {"PYTHONPATH": os.pathsep.join([str(root), HERE])}


PARQUET = {"run": {"function": "sample_functions.squares"}, "dask_cluster": {"workers": 1},
           "output": {"path": "out/r.parquet"}}


def test_validate_names_output_path_and_the_real_import_error(tmp_path, broken_engines):
    result = run_cli("validate", write(tmp_path, PARQUET), env=broken_engines)
    assert result.returncode == 2
    assert "output.path: 'out/r.parquet' needs a Parquet engine" in result.stderr
    assert "numpy.core.multiarray failed to import" in result.stderr
    assert "daskrun[parquet]" in result.stderr


@pytest.mark.slow
def test_run_stops_before_the_function_when_no_engine_imports(tmp_path, broken_engines):
    config = dict(PARQUET, run={"function": "sample_functions.squares"})
    result = run_cli("run", write(tmp_path, config), "--local", cwd=tmp_path, env=broken_engines)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "numpy.core.multiarray failed to import" in result.stderr
    assert "workers joined" not in result.stderr and not (tmp_path / "out").exists()


def test_a_csv_output_needs_no_engine(tmp_path, broken_engines):
    config = dict(PARQUET, output={"path": "r.csv"})
    assert run_cli("validate", write(tmp_path, config), env=broken_engines).returncode == 0


@pytest.mark.parametrize("run,code,message", [
    ({"function": "sample_functions.squares", "args": {"n": 2}}, 0, "squares imported and run.args fit it"),
    ({"function": "sample_functions.sqares"}, 2, "did you mean squares?"),
    ({"function": "sample_functions.squares", "args": {"nn": 2}}, 2, "did you mean 'n'?"),
    ({"function": "sample_module_missing.squares"}, 2, "module 'sample_module_missing' not found"),
])
def test_validate_import_checks_function_and_args_here(tmp_path, run, code, message):
    result = run_cli("validate", write(tmp_path, {"run": run}), "--import", env={"PYTHONPATH": HERE})
    assert result.returncode == code, result.stderr
    assert message in result.stdout + result.stderr


def test_validate_without_import_does_not_import(tmp_path):
    result = run_cli("validate", write(tmp_path, {"run": {"function": "sample_module_missing.fn"}}))
    assert result.returncode == 0


def test_did_you_mean_finds_the_name_however_late_in_the_alphabet(tmp_path, monkeypatch):
    names = [f"aaa_helper_{i:02d}" for i in range(30)] + ["zz_run_benchmark"]
    (tmp_path / "many_names.py").write_text("".join(f"def {n}():\n    pass\n" for n in names))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(invoke.AttributeMissing) as raised:
        invoke.resolve("many_names.zz_run_benchmrk")
    assert "did you mean zz_run_benchmark?" in str(raised.value)
    with pytest.raises(invoke.AttributeMissing, match=r"callables there: aaa_helper_00.* and 11 more"):
        invoke.resolve("many_names.qqq")


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_result_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        store(pd.DataFrame({"a": [1]}), Output(path=str(tmp_path / "r.csv")))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.csv").stat().st_mode) == mode


@pytest.mark.slow
def test_none_with_output_exits_1_and_without_output_0(tmp_path):
    stores_itself = {"run": {"function": "sample_functions.stores_itself"}, "dask_cluster": {"workers": 1}}
    with_output = dict(stores_itself, output={"path": "r.csv"})
    env = {"PYTHONPATH": HERE, "TMPDIR": str(tmp_path)}
    assert run_cli("run", write(tmp_path, stores_itself), "--local", cwd=tmp_path, env=env).returncode == 0
    result = run_cli("run", write(tmp_path, with_output), "--local", cwd=tmp_path, env=env)
    assert result.returncode == 1 and "returned None but `output` is configured" in result.stderr
    assert list(tmp_path.glob("daskrun-setup-*")) == []  # nothing left behind, with or without setup


@pytest.mark.slow
def test_local_run_says_it_installs_into_this_environment(tmp_path):
    repo = tmp_path / "code"
    repo.mkdir()
    config = {"run": {"function": "sample_functions.stores_itself"}, "dask_cluster": {"workers": 1, "worker_config": {
        "setup": {"git_repository": {"url": str(_one_commit_repo(repo)), "install": "true"}}}}}
    result = run_cli("run", write(tmp_path, config), "--local", cwd=tmp_path,
                     env={"PYTHONPATH": HERE, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "installs setup.pip_packages and git_repository.install into this Python environment" in result.stderr
    assert list(tmp_path.glob("daskrun-setup-*")) == []


def _one_commit_repo(tmp_path):
    from builders import make_tree_repo

    return make_tree_repo(tmp_path, "r.git", {"README": textwrap.dedent("nothing to import\n")})


def test_isolated_needs_local(tmp_path):
    result = run_cli("run", write(tmp_path, {"run": {"function": "a.b"}}), "--isolated")
    assert result.returncode == 2 and "--isolated needs --local" in result.stderr
