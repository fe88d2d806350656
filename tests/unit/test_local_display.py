"""`daskrun run FILE --local` on a terminal: one status line below the scrolling log, drawn from
the run's own timeline and counts (daskrun.local_display), ending with the outcome; and the
log unchanged where there is no terminal. The real runs start `python -m daskrun` of this
checkout (PYTHONPATH=<repo>/runtime, which its guarded child process inherits)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys

import pytest

from cli_runner import REPO, run_cli
from daskrun import local_display, progress, run_status, timeline
from daskrun.config import load_config
from daskrun.errors import ExitCode
from daskrun.terminal_status import StatusLineHandler, WrittenAbove
from terminal import Terminal

SLEEPS = "daskrun.examples.load.sleep_tasks"
# Which process's code runs: this checkout's, not the one the venv has installed.
THIS_CHECKOUT = {"PYTHONPATH": str(REPO / "runtime")}


def values(tmp_path, tasks: int, output: bool = True) -> str:
    config = {
        "run": {"function": SLEEPS, "args": {"tasks": tasks, "seconds": 1, "minimum": 0, "idle_timeout": 0}},
        "dask_cluster": {"workers": 2},
    }
    if output:
        config["output"] = {"path": str(tmp_path / "out" / "sleeps.csv")}
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(config))
    return str(path)


# --- what the line says ------------------------------------------------------------------------


@pytest.fixture
def a_run(tmp_path):
    config = load_config(json.loads(open(values(tmp_path, 4)).read()))
    line = timeline.begin()
    progress.forget_counts()
    yield config, line
    progress.forget_counts()


def test_the_line_says_phase_workers_bar_rate_and_eta_from_the_runs_own_counts(a_run, monkeypatch):
    config, line = a_run
    run = local_display.LocalRun(config, "values.yaml")
    assert run.status(200).startswith("sleep_tasks: setting up · 0m00s  workers -  tasks -")
    for phase in (timeline.CONFIG_LOADED, timeline.CLUSTER_CREATED, timeline.ALL_WORKERS, timeline.FUNCTION_STARTED):
        line.mark(phase, quiet=True)
    # Two counts of the progress thread ten seconds apart, as it would have made them.
    monkeypatch.setattr(progress, "_counted", progress.Counted(line.start + 10, 2, 10, 40))
    run.status(200)
    monkeypatch.setattr(progress, "_counted", progress.Counted(line.start + 20, 2, 30, 40))
    said = run.status(200)
    assert re.match(r"sleep_tasks: running · 0m\d\ds  workers 2/2  \[#{22}-{8}\] 30/40 tasks  2 tasks/s, ETA 0m05s$", said)
    # Narrower: the bar gives up columns, then its place, then the line is cut.
    assert "] 30/40 tasks  2 tasks/s, ETA 0m05s" in run.status(90) and len(run.status(90)) < 90
    assert run.status(80).endswith("workers 2/2  30/40 tasks  2 tasks/s, ETA 0m05s")
    assert len(run.status(30)) == 29


def test_after_a_failure_the_verbose_command_it_names_is_one_the_cli_takes(a_run):
    from daskrun.cli import _parser

    config, _ = a_run
    then = local_display.LocalRun(config, "values.yaml").outcome(ExitCode.FUNCTION_FAILED)[-1]
    command = re.search(r"daskrun (-v run \S+ --local)", then)
    assert command, then
    args = _parser().parse_args(command.group(1).split())
    assert args.verbose and args.local and args.config == "values.yaml"


@pytest.mark.parametrize(("code", "result", "next_step"), [
    (ExitCode.OK, "out/sleeps.csv", "next: open "),
    (ExitCode.NOT_STORED, "not stored; printed on stdout between the result markers", "next: daskrun recover "),
    (ExitCode.BAD_CONFIG, "none", "next: daskrun validate values.yaml --import"),
    (ExitCode.INTERRUPTED, "none", "next: daskrun run values.yaml --local"),
    (ExitCode.FUNCTION_FAILED, "none", "next: the error in the log above"),
])
def test_the_end_says_the_outcome_the_exit_code_where_the_result_is_and_what_next(a_run, code, result, next_step):
    config, _ = a_run
    said, where, then = local_display.LocalRun(config, "values.yaml").outcome(code)
    phase = "succeeded" if code == 0 else "failed"
    assert said.startswith(f"sleep_tasks {phase} (exit {int(code)}: ") and " after 0m" in said
    assert where.startswith("result: ") and result in where
    assert then.startswith(next_step)
    if code == ExitCode.OK:
        assert then.endswith("sleeps.report.html   (Dask's performance report of this run)")


# --- when it is drawn --------------------------------------------------------------------------


@pytest.fixture
def stderr_on_a_terminal(monkeypatch):
    """A call that makes stderr a real pseudo terminal, the root logger's handler the CLI's
    StreamHandler on it; called in the test (pytest sets its own stderr again before the test)."""
    master, slave = os.openpty()
    terminal = io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8", write_through=True)
    root = logging.getLogger()
    saved = root.handlers[:]

    def switch() -> logging.Logger:
        monkeypatch.setattr(sys, "stderr", terminal)
        monkeypatch.setenv("TERM", "xterm-256color")
        root.handlers[:] = [logging.StreamHandler(sys.stderr)]
        return root

    yield switch
    root.handlers[:] = saved
    terminal.close()
    os.close(master)


def test_on_a_terminal_the_log_goes_above_the_line_and_comes_back_after_it(a_run, stderr_on_a_terminal):
    config, _ = a_run
    root = stderr_on_a_terminal()
    plain = root.handlers[0]
    display = local_display.start(config, "values.yaml", plain=False)
    assert display is not None
    assert [type(h) for h in root.handlers] == [StatusLineHandler]
    assert isinstance(sys.stderr, WrittenAbove)
    display.end(0)
    assert root.handlers == [plain] and not isinstance(sys.stderr, WrittenAbove)


def test_plain_or_a_dumb_terminal_or_no_terminal_draws_nothing(a_run, stderr_on_a_terminal, monkeypatch):
    config, _ = a_run
    root = stderr_on_a_terminal()
    assert local_display.start(config, "values.yaml", plain=True) is None
    monkeypatch.setenv("TERM", "dumb")
    assert local_display.start(config, "values.yaml", plain=False) is None
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    root.handlers[:] = [logging.StreamHandler(sys.stderr)]
    assert local_display.start(config, "values.yaml", plain=False) is None


# --- real runs ---------------------------------------------------------------------------------

STATUS_ROW = re.compile(r"^sleep_tasks: (setting up|starting the cluster|waiting for workers|running|storing|"
                        r"cleaning up) · ", re.M)


def done_count(screen: str) -> int | None:
    """Tasks done on the status line, if the screen shows one status line, at the bottom below
    the log (not a scroll of them); -1 before the first count."""
    rows = [row for row in screen.splitlines() if row.strip()]
    if len(STATUS_ROW.findall(screen)) != 1 or not rows or not STATUS_ROW.match(rows[-1]):
        return None
    found = re.search(r" (\d+)/16 tasks", rows[-1])
    return int(found[1]) if found else -1


def moved_on(screen: str, since: int) -> bool:
    done = done_count(screen)
    return done is not None and done > since and "ETA" in screen


@pytest.mark.slow
def test_in_a_real_terminal_the_bar_moves_below_the_log_and_the_end_leaves_the_prompt_its_own_row(tmp_path):
    command = [sys.executable, "-m", "daskrun", "run", values(tmp_path, 16), "--local", "--progress-interval", "1"]
    # A prompt after the command, as the shell's would be.
    shell = ["sh", "-c", '"$@"; code=$?; printf "prompt$ "; exit $code', "sh", *command]
    with Terminal(columns=110, rows=30) as terminal:
        terminal.start(shell, THIS_CHECKOUT)
        first = terminal.wait_for(lambda s: moved_on(s, 0), 180, "a first count of tasks")
        assert re.search(r"workers 2/2  \[#+-*\] \d+/16 tasks  [\d.]+ tasks/s, ETA \dm\d\ds$", first, re.M), first
        # Narrower: the terminal re-wraps the line drawn, the next draw erases it whole.
        terminal.resize(80)
        second = terminal.wait_for(lambda s: moved_on(s, done_count(first) or 0), 120, "the bar to move")
        status = [row for row in second.splitlines() if STATUS_ROW.match(row)][0]
        assert len(status) < 80 and "tasks/s, ETA " in status, second
        assert re.search(r"workers 2/2  \d+/16 tasks", status), second  # the bar gave way to the ETA
        assert terminal.wait_exit(180) == 0, terminal.screen()
        scrolled = terminal.history()
    ending = [row for row in scrolled.splitlines() if not row.startswith("Pane is dead")][-4:]
    assert re.match(r"sleep_tasks succeeded \(exit 0: [^)]+\) after 0m\d\ds$", ending[0]), ending
    assert ending[1] == f"result: {tmp_path / 'out' / 'sleeps.csv'}"
    assert re.match(r"next: open .*sleeps\.report\.html", ending[2]), ending
    assert ending[3].startswith("prompt$ "), ending  # at the start of a row of its own (tmux may add its note)
    # Every status line was erased as the log went on: none left in the scrollback, and the
    # log lines the status command reads are there, whole.
    assert STATUS_ROW.findall(scrolled) == [], scrolled
    assert "daskrun.timeline: phase: function finished at +" in scrolled.replace("\n", "")


@pytest.mark.slow
def test_into_pipes_the_output_is_the_plain_log_as_before(tmp_path):
    done = run_cli("run", values(tmp_path, 4, output=False), "--local", "--progress-interval", "1",
                   cwd=tmp_path, env=THIS_CHECKOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b" not in done.stderr + done.stdout and "\r" not in done.stderr
    assert not STATUS_ROW.search(done.stderr) and "sleep_tasks succeeded" not in done.stderr
    # The lines `daskrun status` reads from a log are there as it reads them.
    assert run_status.running_phase(done.stderr) == "cleaning up"
    assert run_status._PROGRESS.search(done.stderr) and run_status._JOINED.search(done.stderr)
    log_line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")
    starts = [line for line in done.stderr.splitlines() if line[:2] == "20"]
    assert starts and all(log_line.match(line) for line in starts), starts
