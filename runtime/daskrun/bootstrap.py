"""Worker bootstrap: a POSIX ``sh`` script built from ``worker_config.setup``.

The same script prepares a worker pod (then ``exec``s the dask worker) and the launcher
(pip, git, import path and preloads, into its own interpreter), and the scheduler pod. Every config value is single-quoted with
``shlex.quote``, so no shell ever expands ``$VAR``, backticks or backslashes in it.
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

from daskrun import credentials, redact_stream, stop_descendants, user_code
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

# A stop (the deadline below, the launcher's, the kubelet's) ends the setup at the running
# command's end, through the report, instead of going on to the next step.
_TERM_TRAP = "trap 'exit 143' TERM"

_PRELUDE = (
    r"""set -eu
daskrun_step=start
daskrun_watchdog=
daskrun_filter=
daskrun_settle() {
  if [ -n "$daskrun_watchdog" ]; then
    kill "$daskrun_watchdog" 2>/dev/null || true
    wait "$daskrun_watchdog" 2>/dev/null || true
    daskrun_watchdog=
  fi
  if [ -n "$daskrun_filter" ]; then
    printf '%s\n' "$daskrun_filter_end"
    exec 1>&3 2>&4 3>&- 4>&-
    wait "$daskrun_filter" || true
    daskrun_filter=
    rm -f "$daskrun_filter_fifo"
  fi
}
daskrun_report() {
  status=$?
  daskrun_settle
  if [ "$status" -ne 0 ]; then
    echo "daskrun-setup: step '$daskrun_step' failed with exit code $status" >&2
"""
    + f"    exit {SETUP_FAILED_EXIT}\n"
    + r"""  fi
}
trap daskrun_report EXIT
"""
    + _TERM_TRAP
    + r"""
step() {
  daskrun_step=$1
  echo "daskrun-setup: $(date -u +%H:%M:%S) running step '$1'" >&2
}
daskrun_python=$(command -v python3 || command -v python)
: "${DASKRUN_SETUP_DIR:=${HOME:-/tmp}/daskrun-setup}"
mkdir -p "$DASKRUN_SETUP_DIR"
"""
)

# The setup's deadline: one process in the background (daskrun.stop_descendants) that waits,
# then stops what the setup started, so the running step fails and the script ends through its
# report. One process with SIGTERM's default action, so the kill that ends it when the setup
# is done works at any instant: a shell function waiting on a sleep ran its TERM trap only
# when the signal came during the `wait`, and one that came just before it was lost (the
# setup then waited for the whole deadline, seen under load).
# Forked with TERM at its default action: a child still holds its shell's signal handlers
# until it resets them, and dash drops a TERM that lands in that moment, so the settle's kill
# was lost and the watchdog slept out the whole deadline (tests hung for it under load; a
# loop of fork-then-kill under the trap lost most kills, with the reset none).
_WATCHDOG = (
    r"""daskrun_deadline_message="daskrun-setup: setup still running after {seconds} s: stopped; raise {key} if it needs longer"
trap - TERM
"$daskrun_python" -c {stopper} --after {seconds} "$daskrun_deadline_message" "$$" "$daskrun_filter" </dev/null &
daskrun_watchdog=$!
"""
    + _TERM_TRAP
)
TIMEOUT_KEY = "dask_cluster.worker_config.setup.timeout"

# Secrets reach the setup through the environment, and git, pip or the user's install command
# may print one: the setup's output goes through daskrun.redact_stream, run by the pod's own
# Python, before it reaches the pod's log. The filter ends at a line of this script's own,
# before the Dask process starts: it must not outlive the setup with the secrets in its
# environment.
_FILTER = r"""daskrun_filter_fifo="$DASKRUN_SETUP_DIR/setup-output"
daskrun_filter_end="daskrun-setup-end:$$:$(date +%s)"
rm -f "$daskrun_filter_fifo"
"$daskrun_python" -c 'import os, sys; os.mkfifo(sys.argv[1], 0o600)' "$daskrun_filter_fifo"
"$daskrun_python" -c {program} "$daskrun_filter_end" <"$daskrun_filter_fifo" >&2 &
daskrun_filter=$!
exec 3>&1 4>&2 >"$daskrun_filter_fifo" 2>&1"""

_FINALE = r"""daskrun_step=done
daskrun_settle
echo "daskrun-setup: $(date -u +%H:%M:%S) done" >&2
trap - EXIT TERM
if command -v daskrun_forget_credentials >/dev/null 2>&1; then daskrun_forget_credentials; fi
if [ "$#" -gt 0 ]; then exec "$@"; fi
"""


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
PIP_SHIM = '#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n'


def _overlay_lines() -> list[str]:
    """A virtual environment in the setup directory over the image's: where pip and
    `git_repository.install` put packages when the root filesystem is read-only. Its python
    comes first on PATH, so the Dask process exec'd at the end runs in it. pip, not uv:
    pip sees the image's packages beneath and adds only what is missing, uv would install
    every dependency again (and another numpy than the scheduler's)."""
    return [
        "step writable_environment",
        'daskrun_overlay="$DASKRUN_SETUP_DIR/environment"',
        '"$daskrun_python" -m venv --without-pip "$daskrun_overlay"',
        'daskrun_site=$("$daskrun_overlay/bin/python" -c \'import sysconfig; print(sysconfig.get_path("purelib"))\')',
        f'"$daskrun_python" -c {shlex.quote(BASE_SITE_PROGRAM)} > "$daskrun_site/_daskrun_base_environment.pth"',
        f'printf %s {shlex.quote(PIP_SHIM)} > "$daskrun_overlay/bin/pip"',
        'chmod 755 "$daskrun_overlay/bin/pip"',
        'daskrun_python="$daskrun_overlay/bin/python"',
        'PATH="$daskrun_overlay/bin:$PATH"',
        "DASKRUN_PIP_INSTALLER=pip",
        "export PATH DASKRUN_PIP_INSTALLER",
    ]


def _installs(setup: Setup, steps: tuple[str, ...]) -> bool:
    return ("pip_packages" in steps and bool(setup.pip_packages)) or (
        "git_repository" in steps and setup.git_repository is not None and bool(setup.git_repository.install)
    )


def bootstrap_script(
    setup: Setup, steps: tuple[str, ...] = STEPS, *, read_only_root: bool = False, redact_output: bool = True
) -> str:
    """The sh script that performs `steps` of `setup` in order, then execs "$@". With a
    read-only root filesystem, installs go to an environment in the (writable) setup directory.
    `redact_output=False` where the caller redacts the output itself (the launcher)."""
    lines = [_PRELUDE]
    credential_lines = _credential_lines(setup, steps)
    if credential_lines and redact_output:
        lines.append(_FILTER.replace("{program}", shlex.quote(_REDACT_PROGRAM)))
    lines.append(
        _WATCHDOG.replace("{seconds}", str(setup.timeout))
        .replace("{key}", TIMEOUT_KEY)
        .replace("{stopper}", shlex.quote(_STOP_PROGRAM))
    )
    lines += credential_lines
    if read_only_root and _installs(setup, steps):
        lines += _overlay_lines()
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
    lines.append(_FINALE)
    return "\n".join(lines)


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
# user's code never see them. Nothing here is ever taken from the config.

_GIT_CREDENTIALS = f"""daskrun_step=git_credentials
export GIT_TERMINAL_PROMPT=0  # a missing or wrong token fails at once instead of waiting
daskrun_exported="$daskrun_exported GIT_TERMINAL_PROMPT"
if [ -n "${{{credentials.GIT_TOKEN}:-}}" ]; then
  cat > "$DASKRUN_SETUP_DIR/git-askpass" <<'DASKRUN_ASKPASS'
#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${{{credentials.GIT_USERNAME}:-{credentials.DEFAULT_GIT_USERNAME}}}" ;;
  *) printf '%s\\n' "${credentials.GIT_TOKEN}" ;;
esac
DASKRUN_ASKPASS
  chmod 700 "$DASKRUN_SETUP_DIR/git-askpass"
  export GIT_ASKPASS="$DASKRUN_SETUP_DIR/git-askpass"
  daskrun_exported="$daskrun_exported GIT_ASKPASS"
fi
if [ -n "${{{credentials.GIT_SSH_KEY}:-}}" ]; then
  if ! command -v ssh >/dev/null 2>&1; then
    echo "daskrun-setup: {credentials.GIT_SSH_KEY} is set but the image has no ssh client; install openssh-client" >&2
    exit 1
  fi
  (umask 077 && printf '%s\\n' "${credentials.GIT_SSH_KEY}" > "$DASKRUN_SETUP_DIR/git-ssh-key")
  if [ -n "${{{credentials.GIT_KNOWN_HOSTS}:-}}" ]; then
    printf '%s\\n' "${credentials.GIT_KNOWN_HOSTS}" > "$DASKRUN_SETUP_DIR/git-known-hosts"
  else
    echo "daskrun-setup: {credentials.GIT_KNOWN_HOSTS} is empty: only hosts in the image's ssh_known_hosts are trusted" >&2
    : > "$DASKRUN_SETUP_DIR/git-known-hosts"
  fi
  # Never StrictHostKeyChecking=no: an unknown host key fails the clone.
  export GIT_SSH_COMMAND='ssh -i "$DASKRUN_SETUP_DIR/git-ssh-key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$DASKRUN_SETUP_DIR/git-known-hosts"'
  export DASKRUN_SETUP_DIR
  daskrun_exported="$daskrun_exported GIT_SSH_COMMAND"
fi"""

_PIP_CREDENTIALS = f"""daskrun_step=pip_credentials
if [ -n "${{{credentials.PIP_PASSWORD}:-}}" ]; then
  (umask 077 && : > "$DASKRUN_SETUP_DIR/netrc" && for daskrun_host in {{hosts}}; do
    printf 'machine %s login %s password %s\\n' "$daskrun_host" \\
      "${{{credentials.PIP_USERNAME}:-{credentials.DEFAULT_PIP_USERNAME}}}" "${credentials.PIP_PASSWORD}" >> "$DASKRUN_SETUP_DIR/netrc"
  done)
  # uv and pip both read the netrc file NETRC names.
  export NETRC="$DASKRUN_SETUP_DIR/netrc"
  daskrun_exported="$daskrun_exported NETRC"
fi"""

_FORGET_CREDENTIALS = f"""daskrun_exported=
daskrun_forget_credentials() {{
  rm -f "$DASKRUN_SETUP_DIR/git-askpass" "$DASKRUN_SETUP_DIR/git-ssh-key" \\
    "$DASKRUN_SETUP_DIR/git-known-hosts" "$DASKRUN_SETUP_DIR/netrc"
  unset $daskrun_exported {" ".join(credentials.ENV)}
}}
trap 'daskrun_status=$?; set +e; daskrun_forget_credentials; (exit $daskrun_status); daskrun_report' EXIT"""


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


def _credential_lines(setup: Setup, steps: tuple[str, ...]) -> list[str]:
    git = "git_repository" in steps and setup.git_repository is not None
    hosts = _index_hosts(setup) if "pip_packages" in steps and setup.pip_packages else []
    if not (git or hosts):
        return []
    lines = [_FORGET_CREDENTIALS]
    if git:
        lines.append(_GIT_CREDENTIALS)
    if hosts:
        lines.append(_PIP_CREDENTIALS.replace("{hosts}", _quote_all(hosts)))
    return lines


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
