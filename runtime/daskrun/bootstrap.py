"""Worker bootstrap: a POSIX ``sh`` script built from ``worker_config.setup``.

The same script prepares a worker pod (then ``exec``s the dask worker) and the launcher
(pip, git, import path and preloads, into its own interpreter), and the scheduler pod. Every config value is single-quoted with
``shlex.quote``, so no shell ever expands ``$VAR``, backticks or backslashes in it.

What is the same in every script (the report of a failed step, the deadline, the output
filter, the credentials, the end) is shell text in daskrun/shell/, one file a piece, which
takes its values from the script's prologue (daskrun.shell_pieces); the commands of the
steps, made of the config's values, are built here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from daskrun import credentials, redact_stream, shell_pieces, stop_descendants, user_code
from daskrun.config import GitRepository, Setup
from daskrun.errors import USER_CODE_ERRORS, SetupError
from daskrun.result_block import defang

# Programs for the pods' own Python: their images may lack daskrun.
_REDACT_PROGRAM = Path(redact_stream.__file__).read_text()
_STOP_PROGRAM = Path(stop_descendants.__file__).read_text()

STEPS = ("apt_packages", "pip_packages", "git_repository", "python_path", "script", "preload")
# What the launcher and the scheduler need too: the user's packages and code, to unpickle.
LAUNCHER_STEPS = ("pip_packages", "git_repository", "python_path", "preload")

# A failed setup step exits with this code whatever the step's own: it fails the same way
# every time, so whoever watches the pod (daskrun.pod_starts) need not wait for its restarts.
SETUP_FAILED_EXIT = 86

# The key the deadline's message (watchdog.sh) tells to raise.
TIMEOUT_KEY = "dask_cluster.worker_config.setup.timeout"


def _quote_all(values: list[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


# Prints the .pth lines that make an environment laid over this interpreter's see its packages
# beneath its own: addsitedir, not a bare path, so the base's own .pth files (editable
# installs) count. daskrun.isolated lays the same environment over a local one.
BASE_SITE_PROGRAM = (
    "import os, site, sysconfig\n"
    "dirs = [sysconfig.get_path('purelib'), sysconfig.get_path('platlib'), *site.getsitepackages()]\n"
    "for d in dict.fromkeys(d for d in dirs if os.path.isdir(d)):\n"
    "    print(f'import site; site.addsitedir({d!r})')\n"
)
PIP_SHIM = shell_pieces.source("pip_shim")


def _installs(setup: Setup, steps: tuple[str, ...]) -> bool:
    return ("pip_packages" in steps and bool(setup.pip_packages)) or (
        "git_repository" in steps and setup.git_repository is not None and bool(setup.git_repository.install)
    )


@dataclass
class _Script:
    """A setup script being put together: its lines, and the values its pieces take."""

    lines: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)

    def piece(self, name: str, **values: str) -> None:
        """daskrun/shell/<name>.sh, with the prologue's variables it reads."""
        self.values.update(values)
        self.lines.append(shell_pieces.source(name).rstrip("\n"))

    def text(self) -> str:
        return "\n".join([shell_pieces.prologue(self.values), *self.lines]) + "\n"


def bootstrap_script(
    setup: Setup, steps: tuple[str, ...] = STEPS, *, read_only_root: bool = False, redact_output: bool = True
) -> str:
    """The sh script that performs `steps` of `setup` in order, then execs "$@". With a
    read-only root filesystem, installs go to an environment in the (writable) setup directory.
    `redact_output=False` where the caller redacts the output itself (the launcher)."""
    script = _Script()
    script.piece("prelude", daskrun_setup_failed_exit=str(SETUP_FAILED_EXIT))
    credentials_needed = _needs_credentials(setup, steps)
    if credentials_needed and redact_output:
        script.piece("filter", daskrun_redact_program=_REDACT_PROGRAM)
    script.piece(
        "watchdog",
        daskrun_timeout=str(setup.timeout),
        daskrun_timeout_key=TIMEOUT_KEY,
        daskrun_stop_program=_STOP_PROGRAM,
    )
    if credentials_needed:
        _add_credentials(script, setup, steps)
    if read_only_root and _installs(setup, steps):
        script.piece("writable_environment", daskrun_base_site_program=BASE_SITE_PROGRAM, daskrun_pip_shim=PIP_SHIM)
    script.lines += _step_lines(setup, steps)
    script.piece("finale")
    return script.text()


def _step_lines(setup: Setup, steps: tuple[str, ...]) -> list[str]:
    """The commands of the steps: each config value in them one word, quoted by shlex.quote."""
    lines: list[str] = []
    if "apt_packages" in steps and setup.apt_packages:
        lines += [
            "step apt_packages",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get update",
            f"apt-get install -y --no-install-recommends {_quote_all(setup.apt_packages)}",
        ]
    if "pip_packages" in steps and setup.pip_packages:
        packages = _quote_all(_index_options(setup) + setup.pip_packages)
        trusted = "".join(f" --trusted-host {shlex.quote(host)}" for host in _plain_http_index_hosts(setup))
        lines += [
            "step pip_packages",
            # uv is much faster than pip; images without it still work, and
            # DASKRUN_PIP_INSTALLER=pip (worker env) forces pip where uv misbehaves.
            'if [ "${DASKRUN_PIP_INSTALLER:-auto}" != pip ] && command -v uv >/dev/null 2>&1; then',
            f'  uv pip install --python "$daskrun_python" {packages}',
            "else",
            f'  "$daskrun_python" -m pip install --no-input{trusted} {packages}',
            "fi",
        ]
    if "git_repository" in steps and setup.git_repository:
        lines += _git_lines(setup.git_repository)
    if ("git_repository" in steps and setup.git_repository) or ("python_path" in steps and setup.python_path):
        lines += _import_path_lines(setup)
    if "script" in steps and setup.script:
        lines += [
            "step script",
            # A separate shell, so the script's own `exit` or `exec` cannot replace the worker.
            f"if command -v bash >/dev/null 2>&1; then bash {shlex.quote(setup.script)}; "
            f"else sh {shlex.quote(setup.script)}; fi",
        ]
    if "preload" in steps and setup.preload:
        lines += _preload_lines(setup.preload)
    return lines


def _git_lines(repo: GitRepository) -> list[str]:
    lines = [
        "step git_repository",
        'daskrun_repo="$DASKRUN_SETUP_DIR/repository"',
        'rm -rf "$daskrun_repo"',
        f'git clone --quiet -- {shlex.quote(repo.url)} "$daskrun_repo"',
    ]
    if repo.reference:
        # git would read a reference starting with '-' as an option (checkout ignores
        # --end-of-options before git 2.43), so the config refuses one; checked again here
        # because this line is where it would do harm.
        if repo.reference.startswith("-"):
            raise ValueError(f"git reference {repo.reference!r} starts with '-'")
        lines.append(
            f'git -C "$daskrun_repo" -c advice.detachedHead=false checkout --quiet {shlex.quote(repo.reference)} --'
        )
    code = _shell_path(repo.subdirectory or "")
    if repo.subdirectory:
        lines.append(
            _require("-d", code, f"git_repository.subdirectory {repo.subdirectory} is not a folder of the clone")
        )
    if repo.install:
        lines += [
            "step git_repository.install",
            f"(cd {code} && sh -c {shlex.quote(repo.install)})",
        ]
    return lines


def _shell_path(path: str) -> str:
    """`path` as a shell word: absolute as it is, relative inside the clone."""
    if path.startswith("/"):
        return shlex.quote(path)
    return '"$daskrun_repo"' + (f"/{shlex.quote(path)}" if path else "")


def _require(test: str, word: str, message: str) -> str:
    return f"[ {test} {word} ] || {{ echo {shlex.quote('daskrun-setup: ' + message)} >&2; exit 1; }}"


def _import_path_lines(setup: Setup) -> list[str]:
    """PYTHONPATH: the clone (or its subdirectory) first, then `python_path` in order."""
    lines = []
    words = []
    if setup.git_repository:
        words.append(_shell_path(setup.git_repository.subdirectory or ""))
    if setup.python_path:
        lines.append("step python_path")
        for path in setup.python_path:
            word = _shell_path(path)
            lines.append(_require("-d", word, f"python_path entry {path} is not a folder"))
            words.append(word)
    lines.append(f'export PYTHONPATH={":".join(words)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
    return lines


def _preload_lines(preloads: list[str]) -> list[str]:
    """Check each preload, then add `--preload X` to the command: Dask runs it in the
    scheduler and each worker; the launcher reads the same arguments (run_launcher_setup)."""
    lines = ["step preload"]
    for index, entry in enumerate(preloads, start=1):
        kind = user_code.preload_kind(entry)
        if kind == "file":
            word = _shell_path(entry)
            lines.append(_require("-f", word, f"preload file {entry} not found"))
        elif kind == "module":
            word = shlex.quote(entry)
            lines.append(
                f'"$daskrun_python" -c {shlex.quote(_FIND_MODULE)} {word} || '
                f"{{ echo {shlex.quote(f'daskrun-setup: preload module {entry} not found')} >&2; exit 1; }}"
            )
        else:
            word = f'"$DASKRUN_SETUP_DIR"/{user_code.SOURCE_FILE.format(index=index)}'
            lines.append(f"printf '%s\\n' {shlex.quote(entry)} > {word}")
        lines.append(f'if [ "$#" -gt 0 ]; then set -- "$@" --preload {word}; fi')
    return lines


_FIND_MODULE = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"


def _has_launcher_steps(setup: Setup) -> bool:
    return any(getattr(setup, step) for step in LAUNCHER_STEPS)


@dataclass(frozen=True)
class LauncherCode:
    """What the launcher's setup left for the rest of the run."""

    paths: list[str] = field(default_factory=list)  # folders it now imports from, first first
    preloads: list[str] = field(default_factory=list)  # module names and .py files, as Dask takes them


# Runs in place of the dask process at the end of the bootstrap: hands the launcher the
# import path and the `--preload` arguments exactly as a scheduler or worker would get them.
_REPORT = (
    "import json, os, sys; json.dump({'pythonpath': os.environ.get('PYTHONPATH', ''), "
    "'preloads': sys.argv[3::2]}, open(sys.argv[1], 'w'))"
)


# --- Credentials for private repositories and indexes -------------------------------------
# Read from the environment (credentials.ENV; a Secret in pods), written to files only the
# setup's user can read, removed and unset before "$@" starts: the dask process and the
# user's code never see them. Nothing here is ever taken from the config. The pieces
# (forget_credentials.sh, git_credentials.sh, pip_credentials.sh) name the variables as
# credentials does; tests/unit/test_setup_shell.py holds the two to each other.


def _index_hosts(setup: Setup) -> list[str]:
    """Hosts the pip credentials are for: the indexes, and direct URLs in pip_packages."""
    urls = [u for u in [setup.pip_index_url, *setup.pip_extra_index_urls] if u]
    urls += [
        word
        for package in setup.pip_packages
        for word in package.replace("@", " @ ").split()
        if word.startswith(("http://", "https://"))
    ]
    return sorted({host for host in map(credentials.url_host, urls) if host})


def _plain_http_index_hosts(setup: Setup) -> list[str]:
    """host[:port] of each http:// index: uv reads an index the user named over plain HTTP, pip
    ignores it unless told to trust it (but for loopback), so a worker image without uv, or a
    read-only root where pip installs, would not find the packages the launcher found."""
    found = []
    for url in [setup.pip_index_url, *setup.pip_extra_index_urls]:
        if url and url.lower().startswith("http://"):
            parts = urlsplit(url)
            try:
                port = parts.port
            except ValueError:  # not a port: pip fails on the URL itself and says so
                continue
            host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
            if host:
                found.append(f"{host}:{port}" if port else host)
    return sorted(set(found))


def _index_options(setup: Setup) -> list[str]:
    options = ["--index-url", setup.pip_index_url] if setup.pip_index_url else []
    for url in setup.pip_extra_index_urls:
        options += ["--extra-index-url", url]
    return options


def _git_needs_credentials(setup: Setup, steps: tuple[str, ...]) -> bool:
    return "git_repository" in steps and setup.git_repository is not None


def _pip_credential_hosts(setup: Setup, steps: tuple[str, ...]) -> list[str]:
    return _index_hosts(setup) if "pip_packages" in steps and setup.pip_packages else []


def _needs_credentials(setup: Setup, steps: tuple[str, ...]) -> bool:
    return _git_needs_credentials(setup, steps) or bool(_pip_credential_hosts(setup, steps))


def _add_credentials(script: _Script, setup: Setup, steps: tuple[str, ...]) -> None:
    script.piece("forget_credentials", daskrun_secret_names=" ".join(credentials.ENV))
    if _git_needs_credentials(setup, steps):
        script.piece("git_credentials", daskrun_git_askpass=shell_pieces.source("git_askpass"))
    if hosts := _pip_credential_hosts(setup, steps):
        script.piece("pip_credentials", daskrun_pip_hosts=" ".join(hosts))


def _run_redacted(argv: list[str], env: dict[str, str]) -> int:
    """Run `argv` with its output on our stderr, line by line, credentials redacted (git and
    pip may echo URLs, and an install command may print anything)."""
    # In a process group of its own, so a stop ends the whole step (a hung git and its helpers)
    # instead of waiting for it: Popen's own exit waits for the child.
    with subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        process_group=0,
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                sys.stderr.write(defang(credentials.redact(line)))
                sys.stderr.flush()
        except BaseException:  # SIGTERM/SIGINT (daskrun's Terminated), or our own output failing
            _stop_group(process)
            raise
    return process.returncode


def _stop_group(process: subprocess.Popen[str], grace: float = 5.0) -> None:
    """SIGTERM to the step's process group, SIGKILL after `grace` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_launcher_setup(setup: Setup, workdir: Path) -> LauncherCode:
    """Run the pip, git, python_path and preload steps for this interpreter."""
    if not _has_launcher_steps(setup):
        return LauncherCode()
    script = bootstrap_script(setup, LAUNCHER_STEPS, redact_output=False)
    report = workdir / "launcher-setup.json"
    env = dict(os.environ, DASKRUN_SETUP_DIR=str(workdir))
    # The launcher's own interpreter first on PATH, so `python3` in the script is this one.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    returncode = _run_redacted(["sh", "-c", script, "daskrun-setup", sys.executable, "-c", _REPORT, str(report)], env)
    if returncode != 0:
        raise SetupError(
            f"launcher setup failed with exit code {returncode}; the failing step is named in the log above"
        )
    reported = json.loads(report.read_text())
    paths = user_code.use_import_paths(reported["pythonpath"])
    for index, preload in enumerate(reported["preloads"]):
        try:
            user_code.run_preload(preload)
        except USER_CODE_ERRORS as exc:
            raise SetupError(
                f"setup.preload[{index}] ({setup.preload[index][:60]!r}) raised in the launcher: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return LauncherCode(paths, reported["preloads"])
