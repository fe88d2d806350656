"""`run`, `validate`, `submit` and `preflight` give one verdict on one values file.

They used to differ: `submit` and `preflight` checked the config keys only, so a Dask-pod
setting the launcher refuses went through `helm install` and failed in the cluster.
"""

import pytest
import yaml
from cli_runner import run_cli

from daskrun.errors import ExitCode

RUN = {"run": {"function": "daskrun.examples.benchmark.run_benchmark", "args": {"iterations": 1}}}
BAD = {
    "a config key": ({"run": {"function": "nodots"}}, "run.function"),
    "a Dask-pod setting": ({**RUN, "daskPods": {"serviceAccount": {"create": False}}}, "daskPods.serviceAccount.name"),
    "a pod-setting value": ({**RUN, "tolerations": "NoSchedule"}, "tolerations"),
    "apt on a read-only root": (
        {**RUN, "daskPods": {"readOnlyRootFilesystem": True},
         "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["libgomp1"]}}}},
        "daskPods.readOnlyRootFilesystem",
    ),
    "both kinds at once": ({"run": {"function": "nodots"}, "daskPods": {"serviceAccount": {"create": False}}},
                           "daskPods.serviceAccount.name"),
}
# Each command as a user types it; none reaches a cluster or Helm before the file is checked.
COMMANDS = {
    "validate": lambda f: ["validate", f],
    "run --dry-run": lambda f: ["run", f, "--dry-run"],
    "run --local": lambda f: ["run", f, "--local"],
    "submit": lambda f: ["submit", f, "--namespace", "team-a"],
    "preflight": lambda f: ["preflight", "--config", f, "--namespace", "team-a", "--release", "r"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(BAD))
def test_every_command_refuses_the_same_bad_file_naming_the_key(tmp_path, case, command):
    values, key = BAD[case]
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    # No kubeconfig and no helm: a command that got past the file would fail differently.
    result = run_cli(*COMMANDS[command](str(path)), env={"KUBECONFIG": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == ExitCode.BAD_CONFIG, result.stdout + result.stderr
    assert key in result.stdout + result.stderr
