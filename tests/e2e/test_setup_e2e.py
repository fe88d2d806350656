"""Worker setup in real pods: pip from a served wheel, a served git repository providing the
function itself, a script, apt (with the root opt-in), and a failing step named in the log."""

import io
import shutil

import pandas as pd
import pytest

from builders import THIRD_PARTY, make_repo, make_tree_repo, make_wheel, third_party_expected, third_party_setup


PROBE = '''
import os
import shutil
import socket

import pandas as pd
from distributed import get_client

MARK = "from-the-git-repository"


def probe(_):
    import daskrun_probe
    import e2e_probe_func

    return {
        "host": socket.gethostname(),
        "pip": daskrun_probe.VALUE,
        "repo": e2e_probe_func.MARK,
        "script": os.path.exists(os.path.expanduser("~/script-ran")),
        "installed": os.path.exists(os.path.expanduser("~/daskrun-setup/repository/installed")),
        "jq": shutil.which("jq") is not None,
        "pip_from": os.path.dirname(daskrun_probe.__file__),
        "root_read_only": any(line.split()[1] == "/" and "ro" in line.split()[3].split(",")
                              for line in open("/proc/self/mounts")),
    }


def check(tasks=8):
    client = get_client()
    return pd.DataFrame(client.gather(client.map(probe, range(tasks), pure=False)))
'''

SCRIPT = 'touch "$HOME/script-ran"\n'


@pytest.fixture(scope="module")
def served(file_server, tmp_path_factory):
    root, url = file_server
    build = tmp_path_factory.mktemp("build")
    wheel = make_wheel(build, body="VALUE = 4242\n")
    shutil.copy(wheel, root / wheel.name)
    repo = make_repo(build, dirname="probe.git", files={"e2e_probe_func.py": PROBE, "setup.sh": SCRIPT})
    shutil.copytree(repo, root / "probe.git")
    shutil.copytree(make_tree_repo(build, "tuning.git", THIRD_PARTY), root / "tuning.git")
    return {"wheel": f"{url}/{wheel.name}", "git": f"{url}/probe.git", "tuning": f"{url}/tuning.git"}


def setup_config(served, **extra_setup):
    setup = {
        "pip_packages": [served["wheel"]],
        "git_repository": {"url": served["git"], "reference": "main",
                           "install": "python3 -c 'import e2e_probe_func' && touch installed"},
        "script": "/home/daskrun/daskrun-setup/repository/setup.sh",
    }
    setup.update(extra_setup)
    return {
        "run": {"function": "e2e_probe_func:check", "args": {"tasks": 8}},
        "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "700M", "cpu": "250m"},
                                                         "setup": setup}},
    }


def result_table(release) -> pd.DataFrame:
    from daskrun.result_block import recover

    return pd.read_csv(io.StringIO(recover(release.logs())))


def test_pip_git_and_script_setup_on_every_worker_with_a_read_only_root(namespace, release, served):
    """With daskPods.readOnlyRootFilesystem the installs go to an environment under the
    writable home; the uv path into the image's own environment is the third-party test's."""
    rel = release()
    rel.install(setup_config(served), daskPods={"readOnlyRootFilesystem": True})
    assert rel.wait() == "Complete", rel.launcher_log()
    table = result_table(rel)
    assert len(table) == 8
    assert table["root_read_only"].all()
    assert table["pip_from"].str.startswith("/home/daskrun/daskrun-setup/environment/").all(), table["pip_from"]
    assert (table["pip"] == 4242).all()
    assert (table["repo"] == "from-the-git-repository").all()
    assert table["script"].all() and table["installed"].all()
    log = rel.launcher_log()
    assert "running step 'git_repository'" in log  # the launcher ran it too


def test_third_party_code_from_a_sub_folder_with_a_preload_in_every_process(namespace, release, served):
    # The package is in benchmark/ (whose setup.py is broken), a helper in lib/, and its tasks
    # import only after compat/shim.py ran: in the launcher, the scheduler and each worker.
    # (Not `n` for the argument: Helm reads a key `n` as the boolean false.)
    rel = release()
    rel.install({"run": {"function": "tuning_bench.tasks:run_benchmark", "args": {"rounds": 6}},
                 "dask_cluster": {"workers": 2, "worker_config": {
                     "resources": {"memory": "700M", "cpu": "250m"}, "setup": third_party_setup(served["tuning"])}}})
    assert rel.wait() == "Complete", rel.launcher_log()
    pd.testing.assert_frame_equal(result_table(rel), third_party_expected(6))
    assert "running step 'preload'" in rel.launcher_log()


def test_apt_packages_with_the_root_opt_in(namespace, release, served):
    rel = release()
    rel.install(setup_config(served, apt_packages=["jq"]), workerRunAsRoot=True)
    assert rel.wait() == "Complete", rel.launcher_log()
    assert result_table(rel)["jq"].all()


def test_apt_packages_without_the_opt_in_is_refused(namespace, release, served):
    rel = release()
    result = rel.install(setup_config(served, apt_packages=["jq"]), check=False)
    assert result.returncode != 0
    assert "apt_packages" in result.stderr and "workerRunAsRoot" in result.stderr


def test_failing_setup_step_fails_the_run_and_names_the_step(namespace, release, served):
    rel = release()
    rel.install(setup_config(served, script="/nonexistent/setup.sh"), job={"backoffLimit": 0})
    assert rel.wait() == "Failed"
    log = rel.launcher_log()
    assert "step 'script' failed" in log, log[-3000:]
    assert "the Dask cluster did not come up" in log
