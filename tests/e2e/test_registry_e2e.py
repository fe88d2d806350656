"""Images pulled from the cluster's own registry (htpasswd auth, tests/cluster/up.sh) with the
chart's image pull secrets and `imagePullPolicy: Always`: a run whose launcher and Dask pods
all pull succeeds; a pull secret that is missing (the launcher) or wrong (the Dask pods) is
told within seconds, with the kubelet's reason, instead of a wait for a timeout."""

import re
import secrets
import time

from cluster_tools import IMAGE_REPOSITORY, IMAGE_TAG, SMALL_RUN, exit_code, kjson, kubectl, registry_facts, wait_until
from daskrun.errors import ExitCode

GOOD, WRONG = "registry-pull", "registry-pull-wrong"
PULL_FAILED = re.compile(r"ErrImagePull|ImagePullBackOff")
REFUSED = re.compile(r"401|unauthorized", re.IGNORECASE)  # the registry's answer, in the kubelet's message


def pull_secrets(namespace: str) -> dict:
    """The right credentials as GOOD, a wrong password as WRONG; chart values for the image."""
    facts = registry_facts()
    for name, password in ((GOOD, facts["password"]), (WRONG, f"wrong-{secrets.token_hex(8)}")):
        kubectl(
            "-n",
            namespace,
            "create",
            "secret",
            "docker-registry",
            name,
            f"--docker-server={facts['address']}",
            f"--docker-username={facts['username']}",
            f"--docker-password={password}",
        )
    return {"repository": f"{facts['address']}/{IMAGE_REPOSITORY}", "tag": IMAGE_TAG, "pullPolicy": "Always"}


def pulled(namespace: str) -> dict[str, str]:
    """The kubelet's Pulled events: pod name -> message."""
    events = kjson("-n", namespace, "get", "events", "--field-selector", "reason=Pulled")["items"]
    return {e["involvedObject"]["name"]: e["message"] for e in events}


def test_a_run_pulls_every_image_from_the_registry_with_the_charts_pull_secret(namespace, release):
    image = pull_secrets(namespace)
    rel = release("pulled")
    rel.install(SMALL_RUN, image=image, imagePullSecrets=[{"name": GOOD}])
    assert rel.wait() == "Complete", rel.logs()
    [launcher] = rel.pods()
    assert launcher["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert launcher["spec"]["imagePullSecrets"] == [{"name": GOOD}]
    events = pulled(namespace)
    reference = f"{image['repository']}:{image['tag']}"
    # The workers pull the slim image of the same build, named after the chart's by default.
    worker_reference = f"{image['repository']}-worker:{image['tag']}"
    for role, wanted in (("scheduler", reference), ("worker", worker_reference)):
        # The Dask pods are gone by now; the kubelet's events stay.
        messages = [m for pod, m in events.items() if f"-{role}" in pod]
        assert messages and all(f'"{wanted}"' in m for m in messages), f"{role}: {events}"
    assert reference in events[launcher["metadata"]["name"]]


def test_a_missing_or_wrong_pull_secret_is_told_within_seconds(namespace, release):
    image = pull_secrets(namespace)
    rel = release("unpulled")
    # The launcher without a secret: the registry refuses it; `daskrun status` says why it waits.
    rel.install(SMALL_RUN, image=image)

    def pending_reason():
        run = rel.status()
        return run["phase"] == "pending" and PULL_FAILED.search(run["reason"]) and run["reason"]

    reason = wait_until(pending_reason, timeout=60, what="daskrun status naming the launcher's image pull failure")
    assert REFUSED.search(reason) or "ImagePullBackOff" in reason, reason

    # The launcher with the right secret, the Dask pods with a wrong one: the run ends with
    # exit 4 and the kubelet's reason, in seconds, not at the cluster start's timeout.
    started = time.monotonic()
    rel.install(
        SMALL_RUN,
        image=image,
        imagePullSecrets=[{"name": GOOD}],
        daskPods={
            "scheduler": {"imagePullSecrets": [{"name": WRONG}]},
            "workers": {"imagePullSecrets": [{"name": WRONG}]},
        },
    )

    def told():
        log = rel.logs()
        return PULL_FAILED.search(log) and log

    log = wait_until(told, timeout=90, interval=1, what="the launcher's log naming the Dask pods' pull failure")
    told_after = time.monotonic() - started

    def first_attempt_ended():
        pods = sorted(rel.pods(), key=lambda p: p["metadata"]["creationTimestamp"])
        return pods and exit_code(pods[0]) is not None and pods[0]

    first = wait_until(first_attempt_ended, timeout=90, interval=1, what="the launcher's first attempt to exit")
    ended_after = time.monotonic() - started
    said = next(line for line in log.splitlines() if PULL_FAILED.search(line))
    print(f"\nfrom helm upgrade: in the log after {told_after:.0f}s, exit after {ended_after:.0f}s: {said[:300]}")
    assert REFUSED.search(log), log
    assert "did not start" in log and "-scheduler" in log, log
    assert exit_code(first) == ExitCode.CLUSTER_FAILED, log
    assert ended_after < 60, f"the launcher took {ended_after:.0f}s to give up:\n{log}"
