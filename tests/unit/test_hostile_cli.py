"""What a user sees when things go wrong outside the config: one line, a documented exit code."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cli_runner import REPO, as_at_a_terminal, cli_env, run_cli, wait_until_blocked_on
from servers import free_port

HERE = Path(__file__).parent


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_cleans_up_and_exits_with_one_line(tmp_path, signum, code):
    pid_file = tmp_path / "worker.pid"
    config = _write(tmp_path, {"run": {"function": "sample_functions.waits_for_a_signal",
                                       "args": {"pid_file": str(pid_file)}},
                               "dask_cluster": {"workers": 1}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    launcher = subprocess.Popen(preexec_fn=as_at_a_terminal, args=[sys.executable, "-m", "daskrun", "run", str(config), "--local"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.2)
    worker_pid = int(pid_file.read_text())
    launcher.send_signal(signum)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == code, stderr
    name = signal.Signals(signum).name
    assert f"stopped by {name}; the Dask cluster was deleted" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    deadline = time.monotonic() + 30
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker_pid), "the local worker outlived the launcher"


@pytest.mark.slow
def test_a_stop_signal_after_the_result_is_kept_finishes_the_run_with_exit_0(tmp_path):
    """Stopped while it closes its cluster, a run whose result is stored exits 0: a Job would
    otherwise count a finished run as failed and run it all again in a new pod."""
    closing = tmp_path / "closing"
    config = _write(tmp_path, {"run": {"function": "sample_functions.slow_to_close",
                                       "args": {"marker": str(closing), "seconds": 5}},
                               "dask_cluster": {"workers": 1}, "output": {"path": "out.csv"}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    launcher = subprocess.Popen(preexec_fn=as_at_a_terminal, args=[sys.executable, "-m", "daskrun", "run", str(config), "--local"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not closing.exists():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.1)
    assert (tmp_path / "out.csv").exists(), "the cluster closed before the result was stored"
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert "SIGTERM after the result was kept: finishing the clean-up, then exit 0" in stderr, stderr
    assert launcher.returncode == 0, stderr
    assert (tmp_path / "out.csv").read_text().splitlines() == ["x", "1", "2", "3"]


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    return path


@pytest.mark.parametrize("kind", ["closed port", "no kubeconfig"])
def test_api_unreachable_is_one_line_and_exit_4(tmp_path, kind):
    config = _write(tmp_path, {"run": {"function": "sample_functions.squares"}})
    if kind == "closed port":
        kubeconfig = str(_kubeconfig(tmp_path, f"https://127.0.0.1:{free_port()}"))
        expected = "ConnectError"
    else:
        kubeconfig = str(tmp_path / "absent")
        expected = "no kubeconfig and no in-cluster service account"
    env = {"KUBECONFIG": kubeconfig, "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "",
           "PYTHONPATH": str(HERE)}
    result = run_cli("run", str(config), env=env, timeout=120)
    assert result.returncode == 4, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "cannot reach the Kubernetes API server" in errors[0], result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr


def _log_with_a_block(tmp_path: Path) -> Path:
    import io

    import pandas as pd

    from daskrun.output import print_result

    buffer = io.StringIO()
    print_result(pd.DataFrame({"a": [1, 2]}), buffer)
    log = tmp_path / "pod.log"
    log.write_text(buffer.getvalue())
    return log


@pytest.mark.parametrize("case,words", [
    ("missing log", "cannot read"),
    ("log is a directory", "cannot read"),
    ("output in a missing directory", "cannot write"),
    ("output is a directory", "cannot write"),
])
def test_recover_io_errors_are_one_line(tmp_path, case, words):
    log = _log_with_a_block(tmp_path)
    args = {
        "missing log": [str(tmp_path / "absent.log")],
        "log is a directory": [str(tmp_path)],
        "output in a missing directory": [str(log), "-o", str(tmp_path / "no" / "such" / "r.csv")],
        "output is a directory": [str(log), "-o", str(tmp_path)],
    }[case]
    result = run_cli("recover", *args)
    assert result.returncode == 1
    assert result.stderr.startswith("daskrun recover: " + words) and len(result.stderr.splitlines()) == 1, result.stderr


def test_recover_writes_parquet_bytes_and_says_what(tmp_path):
    import io

    import pandas as pd

    from daskrun.output import print_result

    df = pd.DataFrame({"when": pd.to_datetime(["2026-01-01"]).tz_localize("UTC"), "kind": pd.Categorical(["x"])})
    buffer = io.StringIO()
    print_result(df, buffer, "parquet")
    log = tmp_path / "pod.log"
    log.write_text("2026-11-28T18:00:00Z noise\n" + buffer.getvalue())
    result = run_cli("recover", str(log), "-o", str(tmp_path / "r.parquet"))
    assert result.returncode == 0 and "(parquet, 1 rows)" in result.stderr, result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), df)


def test_recover_notes_a_skipped_cut_block(tmp_path):
    log = _log_with_a_block(tmp_path)
    text = log.read_text()
    log.write_text(text + text.rsplit("\n", 2)[0] + "\n")
    result = run_cli("recover", str(log))
    assert result.returncode == 0 and result.stdout == "a\n1\n2\n"
    assert "skipped result block 2 of 2: it is cut off" in result.stderr


def test_recover_names_a_bad_log_before_an_unwritable_output(tmp_path):
    log = _log_with_a_block(tmp_path)
    log.write_text(log.read_text().rsplit("\n", 2)[0] + "\n")
    result = run_cli("recover", str(log), "-o", str(tmp_path / "no" / "such" / "r.csv"))
    assert result.returncode == 1 and result.stderr == "daskrun recover: the result block is cut off: its end marker is missing\n"


def test_recover_replaces_an_existing_output_and_leaves_no_temporary_file(tmp_path):
    log = _log_with_a_block(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.csv").write_text("old\n")
    result = subprocess.run([sys.executable, "-m", "daskrun", "recover", "-", "-o", str(out / "r.csv")],
                            input=log.read_bytes(), capture_output=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert (out / "r.csv").read_text() == "a\n1\n2\n" and [p.name for p in out.iterdir()] == ["r.csv"]


def test_interrupted_validate_is_one_line_exit_130(tmp_path):
    fifo = tmp_path / "values.yaml"
    os.mkfifo(fifo)  # `validate` blocks reading it until the signal comes
    process = subprocess.Popen(preexec_fn=as_at_a_terminal, args=[sys.executable, "-m", "daskrun", "validate", str(fifo)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:  # opening the write end succeeds once `validate` has the read end open
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
    wait_until_blocked_on(process.pid, fifo)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    os.close(writer)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "daskrun validate: interrupted"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e-9", "-1", "1e400", "ten"])
def test_a_progress_interval_that_would_crash_or_busy_loop_is_refused_before_anything_starts(value, tmp_path):
    result = run_cli("run", str(tmp_path / "missing.yaml"), "--local", "--progress-interval", value)
    assert result.returncode == 2, result.stderr
    assert "--progress-interval" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "0.1", "10", "86400"])
def test_a_usable_progress_interval_passes(value):
    from daskrun.cli import _progress_interval

    assert _progress_interval(value) == float(value)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_validate_of_an_endless_file_stops_at_the_size_limit(device):
    from daskrun.safe_yaml import MAX_BYTES

    result = run_cli("validate", device, timeout=60)
    assert result.returncode == 2
    assert f"larger than {MAX_BYTES} bytes" in result.stderr, result.stderr


def test_validate_reads_a_config_from_a_pipe(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "daskrun", "validate", "/dev/stdin"], input="run: {function: a.b}\n",
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr


def test_recover_refuses_to_write_over_its_own_log(tmp_path):
    from daskrun.result_block import block_lines

    log = tmp_path / "run.log"
    log.write_text("\n".join(block_lines(b"a\n1\n", "csv", 1)) + "\n")
    before = log.read_bytes()
    link = tmp_path / "same.log"
    link.symlink_to(log)
    for target in (log, link):
        result = run_cli("recover", str(log), "-o", str(target))
        assert result.returncode == 2 and "is the log itself" in result.stderr, result.stderr
    assert log.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_during_a_setup_step_ends_the_step_and_the_run(tmp_path, signum, code):
    # issue 18: the launcher waited for the step to end (a hung git clone: forever).
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "code_mod.py").write_text("def f():\n    return None\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    step_pid = tmp_path / "step.pid"
    config = _write(tmp_path, {"run": {"function": "code_mod.f"}, "dask_cluster": {"workers": 1, "worker_config": {
        "setup": {"git_repository": {"url": f"file://{repo}", "install": f"echo $$ > {step_pid}; exec sleep 300"}}}}})
    launcher = subprocess.Popen(preexec_fn=as_at_a_terminal, args=[sys.executable, "-m", "daskrun", "run", str(config), "--local"],
                                cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not step_pid.exists() or not step_pid.read_text().strip():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.2)
    stopped = time.monotonic()
    launcher.send_signal(signum)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == code, stderr
    assert time.monotonic() - stopped < 15, "the step's end was waited for"
    deadline = time.monotonic() + 10  # its orphaned process is reaped by init, a moment later
    while _alive(int(step_pid.read_text())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(int(step_pid.read_text())), "the setup step outlived the launcher"
