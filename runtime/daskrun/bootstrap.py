"""Worker bootstrap: a POSIX ``sh`` script built from ``worker_config.setup``.

The same script prepares a worker pod (then ``exec``s the dask worker) and the launcher
(pip and git only, into its own interpreter). Every config value is single-quoted with
``shlex.quote``, so no shell ever expands ``$VAR``, backticks or backslashes in it.
"""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from daskrun import credentials
from daskrun.config import Setup
from daskrun.errors import SetupError

STEPS = ("apt_packages", "pip_packages", "git_repository", "script")
LAUNCHER_STEPS = ("pip_packages", "git_repository")

_PRELUDE = r"""set -eu
daskrun_step=start
daskrun_report() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "daskrun-setup: step '$daskrun_step' failed with exit code $status" >&2
  fi
}
trap daskrun_report EXIT
step() {
  daskrun_step=$1
  echo "daskrun-setup: $(date -u +%H:%M:%S) running step '$1'" >&2
}
daskrun_python=$(command -v python3 || command -v python)
: "${DASKRUN_SETUP_DIR:=${HOME:-/tmp}/daskrun-setup}"
mkdir -p "$DASKRUN_SETUP_DIR"
"""

_FINALE = r"""daskrun_step=done
echo "daskrun-setup: $(date -u +%H:%M:%S) done" >&2
trap - EXIT
if command -v daskrun_forget_credentials >/dev/null 2>&1; then daskrun_forget_credentials; fi
if [ "$#" -gt 0 ]; then exec "$@"; fi
"""


def _quote_all(values: list[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


def bootstrap_script(setup: Setup, steps: tuple[str, ...] = STEPS) -> str:
    """The sh script that performs `steps` of `setup` in order, then execs "$@"."""
    lines = [_PRELUDE]
    lines += _credential_lines(setup, steps)
    if "apt_packages" in steps and setup.apt_packages:
        lines += [
            "step apt_packages",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get update",
            f"apt-get install -y --no-install-recommends {_quote_all(setup.apt_packages)}",
        ]
    if "pip_packages" in steps and setup.pip_packages:
        packages = _quote_all(_index_options(setup) + setup.pip_packages)
        lines += [
            "step pip_packages",
            # uv is much faster than pip; images without it still work, and
            # DASKRUN_PIP_INSTALLER=pip (worker env) forces pip where uv misbehaves.
            'if [ "${DASKRUN_PIP_INSTALLER:-auto}" != pip ] && command -v uv >/dev/null 2>&1; then',
            f'  uv pip install --python "$daskrun_python" {packages}',
            "else",
            f'  "$daskrun_python" -m pip install --no-input {packages}',
            "fi",
        ]
    if "git_repository" in steps and setup.git_repository:
        repo = setup.git_repository
        lines += [
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
                f'git -C "$daskrun_repo" -c advice.detachedHead=false checkout --quiet '
                f"{shlex.quote(repo.reference)} --"
            )
        if repo.install:
            lines += [
                "step git_repository.install",
                f'(cd "$daskrun_repo" && sh -c {shlex.quote(repo.install)})',
            ]
        lines.append('export PYTHONPATH="$daskrun_repo${PYTHONPATH:+:$PYTHONPATH}"')
    if "script" in steps and setup.script:
        lines += [
            "step script",
            # A separate shell, so the script's own `exit` or `exec` cannot replace the worker.
            f"if command -v bash >/dev/null 2>&1; then bash {shlex.quote(setup.script)}; "
            f"else sh {shlex.quote(setup.script)}; fi",
        ]
    lines.append(_FINALE)
    return "\n".join(lines)


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
    urls += [word for package in setup.pip_packages for word in package.replace("@", " @ ").split()
             if word.startswith(("http://", "https://"))]
    return sorted({host for host in map(credentials.url_host, urls) if host})


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
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(credentials.redact(line))
            sys.stderr.flush()
    return process.returncode


def run_launcher_setup(setup: Setup, workdir: Path) -> list[str]:
    """Run the pip and git steps for this interpreter; return the paths to import from."""
    if not any(getattr(setup, step) for step in LAUNCHER_STEPS):
        return []
    script = bootstrap_script(setup, LAUNCHER_STEPS)
    env = dict(os.environ, DASKRUN_SETUP_DIR=str(workdir))
    # The launcher's own interpreter first on PATH, so `python3` in the script is this one.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    returncode = _run_redacted(["sh", "-c", script, "daskrun-setup"], env)
    if returncode != 0:
        raise SetupError(
            f"launcher setup failed with exit code {returncode}; "
            "the failing step is named in the log above"
        )
    paths = []
    if setup.git_repository:
        repo = str(workdir / "repository")
        paths.append(repo)
        if repo not in sys.path:
            sys.path.insert(0, repo)
        # Local worker processes inherit the environment, not sys.path.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (repo, os.environ.get("PYTHONPATH")) if p
        )
    importlib.invalidate_caches()
    return paths
