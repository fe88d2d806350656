"""A Dask pod's setup, run for real with `sh` as the pod runs it: its output reaches the log
with the secrets masked (the same redaction as the launcher's, by the pod's own Python), and a
setup over its time is stopped and named instead of holding the pod forever (issue 18)."""

import io
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daskrun import credentials, redact_stream, stop_descendants
from daskrun.bootstrap import SETUP_FAILED_EXIT, TIMEOUT_KEY, bootstrap_script, run_launcher_setup
from daskrun.config import ConfigError, Setup, parse_config
from daskrun.errors import SetupError

from builders import make_repo

# Unique to this session, so another test's process on the machine never holds it.
TOKEN = f"s3cr3t-{uuid.uuid4().hex}"
KEY_LINE = "AAAAb3BlbnNzaC1rZXktdjEAAAAABG5vbmU"
# Lists every process whose environment still holds the token: what a task could read.
HOLDERS = ("sh", "-c", 'echo worker started; for e in /proc/[0-9]*/environ; do '
           f'grep -l {TOKEN} "$e" 2>/dev/null; done; echo holders listed')


def pod_setup(tmp_path: Path, setup: Setup, *command: str, env=None, timeout=120):
    """The script as a pod runs it: `sh -c SCRIPT daskrun-setup <dask command>`, secrets in
    its environment (from the Secret), and nothing else of the test's credentials."""
    clean = {k: v for k, v in os.environ.items() if k not in credentials.ENV and not k.startswith("GIT_")}
    return subprocess.run(
        ["sh", "-c", bootstrap_script(setup), "daskrun-setup", *command], capture_output=True, text=True,
        env={**clean, "HOME": str(tmp_path / "home"), "DASKRUN_SETUP_DIR": str(tmp_path / "setup"),
             credentials.GIT_TOKEN: TOKEN, **(env or {})},
        timeout=timeout,
    )


def git_with_install(tmp_path: Path, install: str, **extra) -> Setup:
    return Setup(git_repository={"url": f"file://{make_repo(tmp_path)}", "install": install}, **extra)


def test_a_pods_setup_output_is_redacted_and_no_process_keeps_the_secret(tmp_path):
    install = (f'echo "token on stdout: ${credentials.GIT_TOKEN}"; '
               f'echo "cloning https://bot:${credentials.GIT_TOKEN}@git.example.com/x.git" >&2')
    result = pod_setup(tmp_path, git_with_install(tmp_path, install), *HOLDERS)
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert TOKEN not in log
    assert "token on stdout: ***" in result.stderr and "cloning https://***@git.example.com/x.git" in result.stderr
    # The filter ended before the worker started: no process of the pod holds the token.
    worker = result.stdout.split("worker started\n", 1)[1]
    assert worker == "holders listed\n"
    assert not (tmp_path / "setup" / "setup-output").exists()


def test_a_key_file_printed_by_a_step_is_masked_line_by_line(tmp_path):
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_LINE}\n-----END OPENSSH PRIVATE KEY-----"
    result = pod_setup(tmp_path, git_with_install(tmp_path, f'printf "%s\\n" "${credentials.GIT_SSH_KEY}"'),
                       "true", env={credentials.GIT_SSH_KEY: key, credentials.GIT_KNOWN_HOSTS: "h ssh-ed25519 AAAA"})
    assert result.returncode == 0, result.stderr
    assert KEY_LINE not in result.stderr and "***" in result.stderr


def test_a_failed_step_is_still_named_after_its_redacted_output(tmp_path):
    result = pod_setup(tmp_path, git_with_install(tmp_path, f'echo "bad ${credentials.GIT_TOKEN}" >&2; exit 3'), "true")
    assert result.returncode == SETUP_FAILED_EXIT
    lines = result.stderr.splitlines()
    assert lines[-2:] == ["bad ***", "daskrun-setup: step 'git_repository.install' failed with exit code 3"]
    assert TOKEN not in result.stderr


def test_a_process_the_setup_leaves_running_does_not_hold_the_pod_back(tmp_path):
    """The filter ends at the script's own line, not at end of file, which a process the setup
    started in the background (a daemon) would keep from coming; the daemon's later output is
    passed on, not cut off. Output to files: a pod's log is no pipe the test waits to close."""
    daemon_pid = tmp_path / "daemon.pid"
    install = f"(echo $$ > /dev/null; sleep 3; echo late from the daemon) & echo $! > {daemon_pid}; echo daemon started"
    out, err = tmp_path / "out", tmp_path / "err"
    clean = {k: v for k, v in os.environ.items() if k not in credentials.ENV and not k.startswith("GIT_")}
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        code = subprocess.call(["sh", "-c", bootstrap_script(git_with_install(tmp_path, install)), "daskrun-setup",
                                "echo", "worker"], stdout=stdout, stderr=stderr, timeout=60,
                               env={**clean, "HOME": str(tmp_path / "home"), credentials.GIT_TOKEN: TOKEN,
                                    "DASKRUN_SETUP_DIR": str(tmp_path / "setup")})
    assert code == 0, err.read_text()
    assert time.monotonic() - started < 3, "the worker waited for the daemon"
    assert out.read_text() == "worker\n"
    pid = int(daemon_pid.read_text())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while "late from the daemon" not in err.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "late from the daemon" in err.read_text()


def test_without_credentials_in_the_setup_there_is_no_filter():
    assert "daskrun_filter_end=" not in bootstrap_script(Setup(script="/x.sh"))
    assert "daskrun_filter_end=" in bootstrap_script(Setup(git_repository={"url": "https://h/x.git"}))
    # The launcher redacts the output itself (daskrun.bootstrap._run_redacted).
    assert "daskrun_filter_end=" not in bootstrap_script(Setup(git_repository={"url": "https://h/x.git"}),
                                                         redact_output=False)


@pytest.mark.parametrize("filtered", [False, True])
def test_a_setup_over_its_time_is_stopped_named_and_fails_the_pod(tmp_path, filtered):
    step_pid = tmp_path / "step.pid"
    hang = f"echo $$ > {step_pid}; sleep 300"
    if filtered:  # credentials: the output goes through the filter
        setup, step = git_with_install(tmp_path, hang, timeout=2), "git_repository.install"
    else:
        script = tmp_path / "hang.sh"
        script.write_text(hang + "\n")
        setup, step = Setup(script=str(script), timeout=2), "script"
    assert ("daskrun_filter_end=" in bootstrap_script(setup)) == filtered
    started = time.monotonic()
    result = pod_setup(tmp_path, setup, "echo", "worker")
    assert time.monotonic() - started < 20, "the hung step was waited for"
    assert result.returncode == SETUP_FAILED_EXIT, result.stderr
    assert result.stdout == ""
    assert f"setup still running after 2 s: stopped; raise {TIMEOUT_KEY} if it needs longer" in result.stderr
    assert f"daskrun-setup: step '{step}' failed" in result.stderr
    assert not Path(f"/proc/{step_pid.read_text().strip()}").exists()


def test_a_step_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    setup = git_with_install(tmp_path, "trap '' TERM; sleep 300 & wait; sleep 300", timeout=1)
    started = time.monotonic()
    result = pod_setup(tmp_path, setup, "echo", "worker")
    assert result.returncode == SETUP_FAILED_EXIT, result.stderr
    assert time.monotonic() - started < 30


def test_a_setup_in_time_leaves_no_deadline_behind(tmp_path):
    """The deadline is stopped before the Dask process starts: it must not stop the worker."""
    result = pod_setup(tmp_path, git_with_install(tmp_path, "true", timeout=2), "sh", "-c", "sleep 4; echo alive")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "alive\n"


def test_the_launchers_setup_over_its_time_raises_promptly(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    setup = git_with_install(tmp_path, "sleep 300", timeout=2)
    started = time.monotonic()
    with pytest.raises(SetupError, match="exit code 86"):
        run_launcher_setup(setup, tmp_path / "work")
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("value", [0, -1, 10**9, 1.5, "60", True])
def test_a_timeout_that_is_no_whole_number_of_seconds_in_range_is_refused(value):
    config = {"run": {"function": "m.f"}, "dask_cluster": {"worker_config": {"setup": {"timeout": value}}}}
    with pytest.raises(ConfigError, match=r"dask_cluster\.worker_config\.setup\.timeout"):
        parse_config(config)


def test_stop_descendants_spares_the_shell_and_the_named_processes(tmp_path):
    shell = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"])
    spared = subprocess.Popen(["sleep", "300"])
    try:
        deadline = time.monotonic() + 10
        while len(stop_descendants.descendants(shell.pid, set())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = stop_descendants.descendants(shell.pid, set())
        assert len(children) == 2
        stop_descendants.stop(shell.pid, {children[0]}, grace=2)
        assert shell.poll() is None  # the shell itself is left to end through its report
        assert stop_descendants.descendants(shell.pid, set()) == [children[0]]
        assert spared.poll() is None
    finally:
        for process in (shell, spared):
            process.kill()
            process.wait()
        subprocess.run(["pkill", "-P", str(shell.pid)], check=False)


def test_the_pods_filter_masks_the_variables_the_launcher_masks():
    assert set(redact_stream.SECRET_VALUE_ENV) >= {credentials.GIT_TOKEN, credentials.GIT_SSH_KEY,
                                                   credentials.PIP_PASSWORD}


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=60), max_size=8),
       secret=st.text(st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=6, max_size=30))
def test_the_pods_filter_prints_what_the_launchers_redaction_prints(lines, secret):
    """Any text, any secret: the filter a pod runs and the launcher's `credentials.redact`
    give the same lines (one implementation; this keeps the pod's use of it honest)."""
    text = "".join(line + "\n" for line in lines)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(credentials.GIT_TOKEN, secret)
        target = io.BytesIO()
        read, write = os.pipe()
        os.write(write, text.encode())
        os.close(write)
        assert redact_stream.copy_redacted(read, target, b"the end", chunk=7) == b""
        os.close(read)
        expected = "".join(credentials.redact(line) for line in io.StringIO(text, newline="\n"))
        assert target.getvalue().decode() == expected
        assert secret not in target.getvalue().decode()


def test_the_filter_as_a_program_masks_up_to_its_end_line_and_passes_the_rest_on(tmp_path):
    program = Path(redact_stream.__file__).read_text()
    result = subprocess.run([sys.executable, "-c", program, "END-1"], capture_output=True,
                            input=f"a {TOKEN}\nhttps://u:p@h/x\nEND-1\nafter the end\n".encode(),
                            env={"PATH": os.environ["PATH"], credentials.GIT_TOKEN: TOKEN}, timeout=30)
    assert result.returncode == 0
    assert result.stderr.decode() == "a ***\nhttps://***@h/x\nafter the end\n"


def test_the_settle_ends_a_watchdog_it_stops_the_moment_it_started(tmp_path):
    """The deadline's watchdog stopped right after its fork, before it has become Python: the
    kill must still end it. A child that still had the shell's TERM handler lost that kill and
    slept the whole deadline (`wait` then hung, and so did the pod's setup)."""
    script = bootstrap_script(Setup(python_path=["/opt/lib"], timeout=600))
    started = script.index("daskrun_watchdog=$!\n") + len("daskrun_watchdog=$!\n")
    # Then at once, as a setup whose steps are all builtins does: the stop trap, the settle.
    harness = script[:started] + "trap 'exit 143' TERM\ndaskrun_settle\ntrap - EXIT\necho settled\n"
    env = {**os.environ, "HOME": str(tmp_path), "DASKRUN_SETUP_DIR": str(tmp_path / "setup")}
    for _ in range(30):
        done = subprocess.run(["sh", "-c", harness], capture_output=True, text=True, env=env, timeout=60)
        assert (done.returncode, done.stdout) == (0, "settled\n"), done.stderr
