"""Private code and packages, run for real with `sh`: git over HTTPS with a token and over SSH
with a deploy key, a package index behind basic auth (uv and pip), credentials from the
environment only and gone before the worker starts."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from daskrun import credentials
from daskrun.config import Setup
from daskrun.bootstrap import bootstrap_script, run_launcher_setup

from auth_server import add_to_index, make_server, serve_in_thread
from builders import make_repo, make_wheel

USER, TOKEN = "ci-bot", "s3cr3t-T0ken-value"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfakekeymaterial\n-----END OPENSSH PRIVATE KEY-----"
KNOWN_HOSTS = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# Shows the environment and the setup directory the worker command would start with.
SHOW = ("sh", "-c", 'env; echo "files:"; ls -A "$DASKRUN_SETUP_DIR"')


def bootstrap(setup, tmp_path, *command, env=None, path_prefix=None):
    setup_dir = tmp_path / "setup"
    clean = {k: v for k, v in os.environ.items() if k not in credentials.ENV and not k.startswith("GIT_")}
    path = clean["PATH"] if path_prefix is None else f"{path_prefix}{os.pathsep}{clean['PATH']}"
    return subprocess.run(
        ["sh", "-c", bootstrap_script(setup), "daskrun-setup", *command], capture_output=True, text=True,
        env={**clean, "PATH": path, "HOME": str(tmp_path / "home"), "DASKRUN_SETUP_DIR": str(setup_dir),
             **(env or {})},
        timeout=300,
    )


@pytest.fixture
def private_server(tmp_path):
    """The basic-auth server on loopback, with a bare repository and a one-wheel index."""
    root = tmp_path / "served"
    root.mkdir()
    build = tmp_path / "build"
    build.mkdir()
    shutil.copytree(make_repo(build, dirname="private.git"), root / "private.git")
    add_to_index(root, make_wheel(build, name="private_probe", body="VALUE = 7\n"))
    log = tmp_path / "requests.log"
    server = make_server(root, "127.0.0.1", 0, USER, TOKEN, log)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


def git_setup(url):
    return Setup(git_repository={"url": f"{url}/private.git", "reference": "feature"})


def test_git_over_http_with_the_token_from_the_environment(tmp_path, private_server):
    url, log = private_server
    result = bootstrap(git_setup(url), tmp_path, *SHOW,
                       env={credentials.GIT_USERNAME: USER, credentials.GIT_TOKEN: TOKEN})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "setup" / "repository" / "probe_repo.py").read_text().count("return 2")
    requests = log.read_text().splitlines()
    assert requests[0].startswith("401 ") and any(r.startswith("200 ") for r in requests)
    # Nothing of the credential survives into the worker's environment or files.
    assert TOKEN not in result.stdout + result.stderr
    env_lines = result.stdout.split("files:")[0]
    for name in (*credentials.ENV, "GIT_ASKPASS", "GIT_TERMINAL_PROMPT", "NETRC"):
        assert f"\n{name}=" not in f"\n{env_lines}", name
    assert result.stdout.split("files:")[1].split() == ["repository"]


def test_git_default_user_name_is_sent_with_the_token(tmp_path):
    fake_git = tmp_path / "bin"
    fake_git.mkdir()
    # A git that asks for credentials like a real one on a 401, and writes the answers down
    # and prints them: the file shows what git got, the log that the pod's log is redacted.
    answers = tmp_path / "answers"
    (fake_git / "git").write_text('#!/bin/sh\nu=$("$GIT_ASKPASS" "Username for \'https://h\': ")\n'
                                  'p=$("$GIT_ASKPASS" "Password for \'https://$u@h\': ")\n'
                                  f'echo "$u:$p" > {answers}\necho "$u:$p" >&2\n'
                                  'mkdir -p "$5"\n')
    (fake_git / "git").chmod(0o755)
    result = bootstrap(Setup(git_repository={"url": "https://h/x.git"}), tmp_path, path_prefix=fake_git,
                       env={credentials.GIT_TOKEN: TOKEN})
    assert result.returncode == 0, result.stderr
    assert answers.read_text() == f"{credentials.DEFAULT_GIT_USERNAME}:{TOKEN}\n"
    assert f"{credentials.DEFAULT_GIT_USERNAME}:***" in result.stderr and TOKEN not in result.stderr


def test_git_over_http_without_the_token_fails_at_once_and_names_the_step(tmp_path, private_server):
    url, _ = private_server
    result = bootstrap(git_setup(url), tmp_path)  # no terminal prompt can hang it
    assert result.returncode != 0
    assert "step 'git_repository' failed" in result.stderr


def test_git_over_http_with_a_wrong_token_fails(tmp_path, private_server):
    url, log = private_server
    result = bootstrap(git_setup(url), tmp_path, env={credentials.GIT_USERNAME: USER, credentials.GIT_TOKEN: "wrong"})
    assert result.returncode != 0 and "step 'git_repository' failed" in result.stderr
    assert "200 " not in log.read_text()
    assert not (tmp_path / "setup" / "git-askpass").exists()  # removed on failure too


@pytest.fixture
def ssh_stand_in(tmp_path):
    """An `ssh` first on PATH that records its argv, the key it was given (and the key file's
    mode) and the known_hosts file, then serves the clone locally like sshd would."""
    bindir = tmp_path / "ssh-bin"
    bindir.mkdir()
    record = tmp_path / "ssh-record"
    (bindir / "ssh").write_text(f"""#!/bin/sh
record={record}
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$record.argv"
key=; hosts=; previous=
for arg in "$@"; do
  case "$previous" in -i) key=$arg ;; esac
  case "$arg" in UserKnownHostsFile=*) hosts=${{arg#UserKnownHostsFile=}} ;; esac
  previous=$arg
done
printf '%s\\n' "$key" > "$record.keypath"
cat "$key" > "$record.key"
stat -c %a "$key" > "$record.keymode"
cat "$hosts" > "$record.known_hosts"
for command; do :; done
exec sh -c "$command"
""")
    (bindir / "ssh").chmod(0o755)
    return bindir, record


def test_git_over_ssh_uses_the_deploy_key_and_the_given_known_hosts(tmp_path, ssh_stand_in):
    bindir, record = ssh_stand_in
    bare = make_repo(tmp_path)
    setup = Setup(git_repository={"url": f"ssh://git@git.example.com{bare}", "reference": "feature"})
    result = bootstrap(setup, tmp_path, *SHOW, path_prefix=bindir,
                       env={credentials.GIT_SSH_KEY: KEY, credentials.GIT_KNOWN_HOSTS: KNOWN_HOSTS})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "setup" / "repository" / "probe_repo.py").exists()
    argv = (record.parent / "ssh-record.argv").read_text().splitlines()
    assert "StrictHostKeyChecking=yes" in argv and "StrictHostKeyChecking=no" not in argv
    assert "IdentitiesOnly=yes" in argv and "BatchMode=yes" in argv
    assert "git@git.example.com" in argv and argv[-1].startswith("git-upload-pack")
    key_path = (record.parent / "ssh-record.keypath").read_text().strip()
    assert key_path == str(tmp_path / "setup" / "git-ssh-key")
    assert (record.parent / "ssh-record.key").read_text().strip() == KEY
    assert (record.parent / "ssh-record.keymode").read_text().strip() == "600"  # ssh refuses others
    assert (record.parent / "ssh-record.known_hosts").read_text().strip() == KNOWN_HOSTS
    # The key is gone before the worker starts, and so are the variables.
    assert not Path(key_path).exists()
    assert "GIT_SSH_COMMAND=" not in result.stdout and KEY.splitlines()[1] not in result.stdout


def test_git_over_ssh_without_known_hosts_still_checks_host_keys(tmp_path, ssh_stand_in):
    bindir, record = ssh_stand_in
    bare = make_repo(tmp_path)
    result = bootstrap(Setup(git_repository={"url": f"ssh://git@git.example.com{bare}"}), tmp_path,
                       path_prefix=bindir, env={credentials.GIT_SSH_KEY: KEY})
    assert result.returncode == 0, result.stderr
    assert f"{credentials.GIT_KNOWN_HOSTS} is empty" in result.stderr
    argv = (record.parent / "ssh-record.argv").read_text().splitlines()
    assert "StrictHostKeyChecking=yes" in argv
    assert (record.parent / "ssh-record.known_hosts").read_text() == ""


def test_a_deploy_key_without_an_ssh_client_is_a_clear_error(tmp_path):
    bindir = tmp_path / "no-ssh"
    bindir.mkdir()
    for tool in ("sh", "git", "mkdir", "rm", "cat", "chmod", "date", "python3"):
        (bindir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run(
        ["sh", "-c", bootstrap_script(Setup(git_repository={"url": "ssh://git@h/r.git"})), "x"],
        capture_output=True, text=True,
        env={"PATH": str(bindir), "HOME": str(tmp_path), credentials.GIT_SSH_KEY: KEY},
    )
    assert result.returncode != 0
    assert "no ssh client; install openssh-client" in result.stderr
    assert "step 'git_credentials' failed" in result.stderr


@pytest.fixture
def target_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_private_index_with_the_password_from_the_environment(tmp_path, private_server, installer):
    url, log = private_server
    if installer == "pip":
        venv = tmp_path / "pipvenv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        bindir = venv / "bin"
    else:
        bindir = tmp_path / "venv" / "bin"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bindir.parent)], check=True)
    setup = Setup(pip_packages=["private-probe"], pip_index_url=f"{url}/simple")
    result = bootstrap(setup, tmp_path, *SHOW, path_prefix=bindir,
                       env={credentials.PIP_USERNAME: USER, credentials.PIP_PASSWORD: TOKEN,
                            "DASKRUN_PIP_INSTALLER": installer})
    assert result.returncode == 0, result.stderr
    check = subprocess.run([bindir / "python3", "-c", "import private_probe; print(private_probe.VALUE)"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "7", check.stderr
    assert any(line.startswith("200 /packages/") for line in log.read_text().splitlines())
    assert TOKEN not in result.stdout + result.stderr
    assert "NETRC=" not in result.stdout and "netrc" not in result.stdout.split("files:")[1]


def test_pip_reads_a_plain_http_index_that_it_would_not_trust_by_itself(tmp_path, private_server):
    """uv reads an http:// index; pip ignores one that is not on loopback unless it is trusted.
    127.1 is loopback to the resolver but a host name to pip, as the cluster's index address is:
    the worker image has no uv, and a read-only root installs with pip."""
    url, log = private_server
    untrusted = url.replace("127.0.0.1", "127.1")
    venv = tmp_path / "pipvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    setup = Setup(pip_packages=["private-probe"], pip_index_url=f"{untrusted}/simple")
    result = bootstrap(setup, tmp_path, path_prefix=venv / "bin",
                       env={credentials.PIP_USERNAME: USER, credentials.PIP_PASSWORD: TOKEN,
                            "DASKRUN_PIP_INSTALLER": "pip"})
    assert result.returncode == 0, result.stderr
    assert "not a trusted or secure host" not in result.stderr
    assert any(line.startswith("200 /packages/") for line in log.read_text().splitlines())


def test_only_pip_is_told_to_trust_plain_http_indexes():
    script = bootstrap_script(Setup(pip_packages=["a"], pip_index_url="http://u@idx.corp:8080/simple",
                                    pip_extra_index_urls=["https://secure.corp/simple", "http://[fd00::1]/simple"]))
    [uv] = [line for line in script.splitlines() if line.strip().startswith("uv pip install")]
    [pip] = [line for line in script.splitlines() if "-m pip install" in line]
    assert "--trusted-host" not in uv
    assert "--trusted-host idx.corp:8080" in pip and "--trusted-host '[fd00::1]'" in pip
    assert "secure.corp" not in pip.split("--index-url")[0]


def test_private_index_without_the_password_fails_and_names_the_step(tmp_path, private_server, target_venv):
    url, log = private_server
    setup = Setup(pip_packages=["private-probe"], pip_index_url=f"{url}/simple")
    result = bootstrap(setup, tmp_path, path_prefix=target_venv)
    assert result.returncode != 0
    assert "step 'pip_packages' failed" in result.stderr
    assert "200 " not in log.read_text()


def test_netrc_covers_every_index_host_and_direct_urls_and_only_its_owner_reads_it(tmp_path):
    setup = Setup(pip_packages=["a", "b @ https://files.example.org/b-1-py3-none-any.whl"],
                  pip_index_url="https://idx.example.com/simple",
                  pip_extra_index_urls=["https://extra.example.net:8443/simple"])
    script = bootstrap_script(setup).replace("step pip_packages", 'cp "$NETRC" "$HOME/netrc-copy"; '
                                             'stat -c %a "$NETRC" > "$HOME/mode"; exit 0')
    (tmp_path / "home").mkdir()
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
                                 credentials.PIP_PASSWORD: TOKEN})
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "home" / "netrc-copy").read_text().splitlines()
    assert lines == [f"machine {h} login {credentials.DEFAULT_PIP_USERNAME} password {TOKEN}"
                     for h in ("extra.example.net", "files.example.org", "idx.example.com")]
    assert (tmp_path / "home" / "mode").read_text().strip() == "600"


def test_index_urls_become_installer_options():
    setup = Setup(pip_packages=["a"], pip_index_url="https://idx.example.com/simple",
                  pip_extra_index_urls=["https://x.example.com/simple", "https://y.example.com/simple"])
    script = bootstrap_script(setup)
    options = ("--index-url https://idx.example.com/simple --extra-index-url https://x.example.com/simple "
               "--extra-index-url https://y.example.com/simple a")
    assert f'uv pip install --python "$daskrun_python" {options}' in script
    assert f'"$daskrun_python" -m pip install --no-input {options}' in script


def test_no_credential_block_without_git_or_index():
    assert "daskrun_forget_credentials()" not in bootstrap_script(Setup(pip_packages=["a"], script="/x.sh"))


def test_launcher_setup_reads_the_environment_and_redacts_its_output(tmp_path, private_server, monkeypatch, capfd):
    url, _ = private_server
    monkeypatch.setenv(credentials.GIT_USERNAME, USER)
    monkeypatch.setenv(credentials.GIT_TOKEN, TOKEN)
    monkeypatch.setenv("SHOWN", TOKEN)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    setup = Setup(git_repository={"url": f"{url}/private.git",
                                  "install": 'echo "pushing to https://me:$SHOWN@example.com/x?token=$SHOWN"'})
    paths = run_launcher_setup(setup, tmp_path / "work").paths
    assert paths == [str(tmp_path / "work" / "repository")]
    err = capfd.readouterr().err
    assert "pushing to https://***@example.com/x?token=***" in err
    assert TOKEN not in err
    # The launcher's own environment keeps the variables (a local run may need them again).
    assert os.environ[credentials.GIT_TOKEN] == TOKEN


def test_key_file_modes_are_private_even_with_a_permissive_umask(tmp_path, ssh_stand_in):
    bindir, record = ssh_stand_in
    bare = make_repo(tmp_path)
    script = "umask 000\n" + bootstrap_script(Setup(git_repository={"url": f"ssh://git@h{bare}"}))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                            env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                                 "HOME": str(tmp_path / "home"), credentials.GIT_SSH_KEY: KEY,
                                 credentials.GIT_KNOWN_HOSTS: KNOWN_HOSTS})
    assert result.returncode == 0, result.stderr
    mode = int((record.parent / "ssh-record.keymode").read_text(), 8)
    assert mode & (stat.S_IRWXG | stat.S_IRWXO) == 0
