"""Private code and packages in real pods, in one release: a git repository and a package index
behind HTTP basic auth on this host, the token in an existing Secret. Launcher, scheduler and
workers clone and install with it; the token is in no ConfigMap, no pod spec, no log line and
no `helm get` output."""

import io
import json
import secrets
import shutil
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from auth_server import add_to_index
from builders import make_repo, make_wheel
from cluster_tools import helm, kjson, kubectl
from servers import BackgroundServer, free_port

from daskrun import credentials

USER = "daskrun-e2e"
TOKEN = f"e2e-token-{secrets.token_hex(12)}"
SECRET = "private-code"

# A canary shaped like the token, in the workers' environment: the scan must find it, or it
# proves nothing.
CANARY = "e2e-token-" + "c" * 24

PROBE = '''
import base64
import json
import os
import re
import socket
import time

import pandas as pd
from distributed import get_client

MARK = "from-the-private-repository"
TOKEN_SHAPE = re.compile(rb"e2e-token-[0-9a-f]{24}")
# The start of base64("<user>:<token>"), as in an Authorization: Basic header or a netrc-ish file.
BASIC = base64.b64encode(b"daskrun-e2e:e2e-token-"[:21])


def scan():
    """Everything a task can read that could hold a credential: every process's environment
    and command line, and every file under the home, /tmp and /run."""
    paths = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            paths += [f"/proc/{pid}/environ", f"/proc/{pid}/cmdline"]
    for root in sorted({os.path.expanduser("~"), "/tmp", "/run"}):
        for folder, _, files in os.walk(root):
            paths += [os.path.join(folder, f) for f in files]
    hits, read = [], 0
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read(8 << 20)
        except OSError:
            continue
        read += 1
        hits += [f"{path}: {m.decode()}" for m in TOKEN_SHAPE.findall(data)]
        if BASIC in data:
            hits.append(f"{path}: basic auth")
    return {"read": read, "hits": hits}


def probe(_):
    import private_probe

    time.sleep(1.5)  # keeps the Dask pods up long enough to be inspected
    return {"host": socket.gethostname(), "pip": private_probe.VALUE, "repo": MARK, "where": "task",
            "scan": json.dumps(scan())}


def check(tasks=8):
    client = get_client()
    rows = client.gather(client.map(probe, range(tasks), pure=False))
    rows.append({"host": socket.gethostname(), "where": "function", "scan": json.dumps(scan())})
    return pd.DataFrame(rows)
'''


@pytest.fixture(scope="module")
def private_server(host_ip, tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    build = tmp_path_factory.mktemp("private-build")
    repo = make_repo(build, dirname="private.git", files={"e2e_private_func.py": PROBE})
    shutil.copytree(repo, root / "private.git")
    add_to_index(root, make_wheel(build, name="private_probe", body="VALUE = 7777\n"))
    secret_file = build / "credentials"
    secret_file.write_text(f"{USER}:{TOKEN}")
    log = build / "requests.log"
    log.touch()
    port = free_port()
    server = BackgroundServer([sys.executable, str(Path(__file__).parents[1] / "support" / "auth_server.py"),
                               str(root), host_ip, str(port), str(log), str(secret_file)], host_ip, port)
    yield server.url, log
    server.stop()


class Watcher:
    """Records every pod (spec and log) and DaskCluster of the namespace while the run goes on:
    the Dask pods are gone once the run ends."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.pods: dict[str, dict] = {}
        self.logs: dict[str, str] = {}
        self.clusters: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def _loop(self):
        while not self._stop.wait(2):
            try:
                self._look()
            except Exception as exc:  # a transient API error must not end the watch
                print(f"watcher: {exc}", file=sys.stderr)

    def _look(self):
        for pod in kjson("-n", self.namespace, "get", "pods")["items"]:
            name = pod["metadata"]["name"]
            self.pods[name] = pod
            if (pod.get("status", {}).get("containerStatuses") or [{}])[0].get("state", {}).get("running"):
                log = kubectl("-n", self.namespace, "logs", name, "--all-containers", check=False).stdout
                if len(log) >= len(self.logs.get(name, "")):
                    self.logs[name] = log
        clusters = kjson("-n", self.namespace, "get", "daskclusters.kubernetes.dask.org")["items"]
        if clusters:
            self.clusters.append(json.dumps(clusters))

    def of_component(self, component: str) -> list[str]:
        return [n for n, p in self.pods.items()
                if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]


def test_private_repository_and_index_with_a_token_from_a_secret(namespace, release, private_server):
    url, requests_log = private_server
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET}, "type": "Opaque",
        "stringData": {credentials.GIT_USERNAME: USER, credentials.GIT_TOKEN: TOKEN,
                       credentials.PIP_USERNAME: USER, credentials.PIP_PASSWORD: TOKEN},
    }))
    config = {
        "run": {"function": "e2e_private_func:check", "args": {"tasks": 8}},
        "dask_cluster": {"workers": 2, "worker_config": {
            "resources": {"memory": "700M", "cpu": "250m"}, "env": {"DASKRUN_E2E_CANARY": CANARY},
            "setup": {"pip_packages": ["private-probe"], "pip_index_url": f"{url}/simple",
                      "git_repository": {"url": f"{url}/private.git", "reference": "main",
                                         # Printed in every pod's log: it must read ***.
                                         "install": f'echo "install sees ${credentials.GIT_TOKEN}"'}}}},
    }
    rel = release()
    with Watcher(namespace) as watcher:
        rel.install(config, codeCredentials={"existingSecret": SECRET})
        outcome = rel.wait()
    launcher_log = rel.launcher_log()
    assert outcome == "Complete", launcher_log[-3000:]

    from daskrun.result_block import recover

    table = pd.read_csv(io.StringIO(recover(rel.logs())))
    tasks, function = table[table["where"] == "task"], table[table["where"] == "function"]
    assert len(tasks) == 8 and (tasks["pip"] == 7777).all() and len(function) == 1
    assert (tasks["repo"] == "from-the-private-repository").all()

    # From inside the run (each task on a worker, and the function beside the scheduler):
    # no credential in any process's environment or command line, or any file under the
    # home, /tmp and /run -- only the canary, which shows the scan reads the environment.
    for row in table.itertuples():
        scan = json.loads(row.scan)
        assert scan["read"] > 10, row
        leaks = [hit for hit in scan["hits"] if not hit.endswith(CANARY)]
        assert not leaks, f"a credential readable by the run's code on {row.host}: {leaks}"
        if row.where == "task":
            assert any(hit.endswith(CANARY) and "/environ" in hit for hit in scan["hits"]), row

    # Launcher, scheduler and workers each cloned and installed: 4 authenticated fetches each,
    # after the server refused the same requests without credentials.
    served = requests_log.read_text().splitlines()
    for path in ("/private.git/info/refs", "/simple/private-probe/"):
        assert sum(line.startswith(f"200 {path}") for line in served) >= 4, (path, served)
        assert any(line.startswith(f"401 {path}") for line in served), (path, served)
    schedulers, workers = watcher.of_component("dask-scheduler"), watcher.of_component("dask-worker")
    assert schedulers and len(workers) >= 2, sorted(watcher.pods)
    for name in schedulers + workers:
        assert "running step 'git_repository'" in watcher.logs.get(name, ""), (name, watcher.logs.get(name))
        assert "install sees ***" in watcher.logs[name] and TOKEN not in watcher.logs[name], name
        env = {e["name"]: e for e in watcher.pods[name]["spec"]["containers"][0].get("env", [])}
        assert env[credentials.GIT_TOKEN] == {"name": credentials.GIT_TOKEN, "valueFrom": {"secretKeyRef": {
            "name": SECRET, "key": credentials.GIT_TOKEN, "optional": True}}}

    # The token: only in the Secret.
    places = {
        "configmaps": kubectl("-n", namespace, "get", "configmaps", "-o", "json").stdout,
        "pods": json.dumps(list(watcher.pods.values())),
        "daskclusters": "\n".join(watcher.clusters),
        "jobs": kubectl("-n", namespace, "get", "jobs", "-o", "json").stdout,
        "launcher log": launcher_log,
        "dask logs": "\n".join(watcher.logs.values()),
        "events": kubectl("-n", namespace, "get", "events", "-o", "json").stdout,
        "helm get all": helm("get", "all", rel.name, "-n", namespace).stdout,
        "helm get values -a": helm("get", "values", rel.name, "-n", namespace, "--all").stdout,
    }
    assert watcher.clusters, "the DaskCluster was never seen"
    for where, text in places.items():
        assert TOKEN not in text, f"the token appears in {where}"
