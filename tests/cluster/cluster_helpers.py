"""Helpers for the smoke tests of the local cluster (make cluster-smoke).

They drive the real kubectl (the one build.sh made, through ./kubectl, or $KUBECTL)
against $KUBECONFIG (default: <repo>/.cluster/kubeconfig).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
IMAGE = os.environ.get("IMAGE", "daskrun:0.1.0")
# Present on every node of this cluster (sandbox image); tiny, does nothing but sleep.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


class Kubectl:
    def __init__(self) -> None:
        self.cmd = os.environ.get("KUBECTL", str(HERE / "kubectl"))
        self.env = dict(os.environ)
        self.env.setdefault("KUBECONFIG", str(REPO_ROOT / ".cluster" / "kubeconfig"))

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.cmd, *args], input=input, capture_output=True,
                              text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: dict | str, namespace: str | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        return self.run(*ns, "apply", "-f", "-", input=text, check=check)

    def wait_until(self, what: str, pred, timeout: float = 180, interval: float = 1.0):
        """Poll pred() until it returns a truthy value; fail with what when time runs out."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                last = pred()
            except AssertionError as exc:  # transient kubectl errors
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")

    def pod_phase(self, ns: str, name: str) -> str:
        return self.json("-n", ns, "get", "pod", name).get("status", {}).get("phase", "")

    def wait_pod_done(self, ns: str, name: str, timeout: float = 180) -> str:
        phase = self.wait_until(
            f"pod {ns}/{name} to finish",
            lambda: (p := self.pod_phase(ns, name)) in ("Succeeded", "Failed") and p,
            timeout)
        return phase
