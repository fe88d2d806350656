"""A run's certificates (daskrun.run_tls): per run, expiring, never logged, and refused by
every other run's processes -- shown with real Dask comms over TLS on this host."""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl

import dask
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from distributed import Client, Scheduler
from distributed.comm import connect
from distributed.security import Security

from daskrun import run_tls
from daskrun.manifest import build_cluster_spec
from daskrun.config import load_config
from daskrun.context import RunContext

RUN = run_tls.issue("bench-r1-abc123")
OTHER = run_tls.issue("bench-r1-abc123")  # the same name again: still another CA


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_each_role_is_signed_by_its_runs_ca_only():
    ca, other_ca = load(RUN.ca), load(OTHER.ca)
    for role in run_tls.ROLES:
        cert = load(RUN.certs[role])
        cert.verify_directly_issued_by(ca)
        with pytest.raises(Exception):
            cert.verify_directly_issued_by(other_ca)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert len({RUN.keys[r] for r in run_tls.ROLES} | {OTHER.keys[r] for r in run_tls.ROLES}) == 6


def test_certificates_expire():
    now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    certs = run_tls.issue("r", now=now)
    for pem in (certs.ca, *certs.certs.values()):
        cert = load(pem)
        assert cert.not_valid_after_utc == now + run_tls.VALID_FOR
        assert cert.not_valid_before_utc == now - run_tls.CLOCK_SKEW
    assert certs.not_after == now + run_tls.VALID_FOR


def test_no_key_in_a_repr_a_log_line_or_the_security_object(caplog):
    text = repr(RUN) + str(RUN) + repr(RUN.security())
    logging.getLogger("t").info("certs %s %r", RUN, RUN)
    for key in RUN.keys.values():
        assert key not in text and key not in caplog.text
    assert "PRIVATE KEY" not in text + caplog.text


def test_the_secret_holds_every_file_and_reads_back():
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u"}
    secret = run_tls.secret_manifest(RUN, "c1", "ns", {"daskrun.io/run": "c1"}, owner)
    assert secret["metadata"]["name"] == run_tls.secret_name("c1") == "c1-tls"
    assert secret["metadata"]["ownerReferences"] == [owner]
    assert secret["type"] == "Opaque"
    assert run_tls.RunCertificates.from_secret_data(secret["stringData"]) == RUN
    data = dict(secret["stringData"])
    del data["client.key"]
    with pytest.raises(KeyError, match="client.key"):
        run_tls.RunCertificates.from_secret_data(data)


@pytest.mark.parametrize("role", run_tls.ROLES)
def test_pod_env_points_dasks_settings_at_the_mounted_files(role):
    env = {e["name"]: e["value"] for e in run_tls.dask_env(role)}
    # As a Dask process reads its environment: each variable one dotted key over the defaults.
    dotted = {name[len("DASK_") :].lower().replace("__", "."): dask.config.collect_env({name: value})
              for name, value in env.items()}
    settings = {key: _leaf(nested, key) for key, nested in dotted.items()}
    with dask.config.set(settings):
        security = Security()
        assert dask.config.get("distributed.comm.default-scheme") == "tls"
    assert security.require_encryption is True
    assert security.tls_ca_file == f"{run_tls.MOUNT}/ca.crt"
    assert security.tls_client_cert == f"{run_tls.MOUNT}/{role}.crt"
    assert security.tls_client_key == f"{run_tls.MOUNT}/{role}.key"
    if role != "client":
        assert getattr(security, f"tls_{role}_cert") == f"{run_tls.MOUNT}/{role}.crt"


def _leaf(nested: dict, dotted: str):
    for part in dotted.split("."):
        nested = nested[part]
    return nested


def _pods(tls: bool):
    config = load_config({"run": {"function": "a.b"}, "dask_cluster": {"tls": tls}})
    spec = build_cluster_spec(config, RunContext(namespace="ns", release="bench", run_id="1"))
    return spec, spec["spec"]["scheduler"]["spec"], spec["spec"]["worker"]["spec"]


def _secret_files(pod, container):
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files = set()
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret:
            files |= {item["key"] for item in secret["items"]}
    return files


def test_each_dask_container_mounts_its_own_roles_key_only():
    spec, scheduler_pod, worker_pod = _pods(True)
    scheduler, driver = scheduler_pod["containers"]
    [worker] = worker_pod["containers"]
    assert _secret_files(scheduler_pod, scheduler) == {"ca.crt", "scheduler.crt", "scheduler.key"}
    assert _secret_files(scheduler_pod, driver) == {"ca.crt", "client.crt", "client.key"}
    assert _secret_files(worker_pod, worker) == {"ca.crt", "worker.crt", "worker.key"}
    name = spec["metadata"]["name"]
    for pod in (scheduler_pod, worker_pod):
        assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {f"{name}-tls"}
    assert scheduler["args"][-2:] == ["--protocol", "tls"]
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tls://{name}-scheduler.ns.svc.cluster.local:8786"


def test_without_tls_no_certificate_and_no_tls_setting_reaches_a_pod():
    _, scheduler_pod, worker_pod = _pods(False)
    for pod in (scheduler_pod, worker_pod):
        assert not any("secret" in v for v in pod.get("volumes", []))
        for container in pod["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            assert not {n for n in names if n.startswith(run_tls.ENV_PREFIX)}
            assert "--protocol" not in container.get("args", [])


def test_the_scheduler_serves_the_http_api_the_dask_controller_scales_through():
    for tls in (True, False):
        _, scheduler_pod, _ = _pods(tls)
        env = {e["name"]: e["value"] for e in scheduler_pod["containers"][0]["env"]}
        routes = env["DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"]
        parsed = dask.config.collect_env({"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": routes})
        assert "distributed.http.scheduler.api" in parsed["distributed"]["scheduler"]["http"]["routes"]
        assert "distributed.http.health" in parsed["distributed"]["scheduler"]["http"]["routes"]


# --- the handshake, for real: a TLS scheduler of RUN, and clients with and without its certificate ---


async def _connect(address: str, security: Security | None) -> str:
    # Closed whether or not it joined: a refused Client left to the garbage collector would
    # try to close itself on a loop that is gone.
    client = Client(address, security=security, asynchronous=True, timeout=3)
    try:
        await client
        return client.scheduler_info()["address"]
    finally:
        await client.close()


async def _handshakes() -> dict[str, str]:
    results: dict[str, str] = {}
    async with Scheduler(security=RUN.security(), protocol="tls", dashboard_address=":0", host="127.0.0.1") as s:
        attempts = {
            "run's client": (s.address, RUN.security()),
            "another run's client": (s.address, OTHER.security()),
            "plain tcp": (s.address.replace("tls://", "tcp://"), Security()),
        }
        for who, (address, security) in attempts.items():
            try:
                results[who] = "joined " + await _connect(address, security)
            except Exception as exc:  # noqa: BLE001 - any refusal is the point
                results[who] = f"refused: {type(exc).__name__}"
        try:
            results["no certificate"] = "joined " + str(await _identity_without_certificate(s.address))
        except Exception as exc:  # noqa: BLE001
            results["no certificate"] = f"refused: {type(exc).__name__}"
    return results


async def _identity_without_certificate(address: str) -> dict:
    """Ask the scheduler who it is over TLS that trusts the run's CA but shows no certificate
    of its own: the server, not our client side, must be the one that says no."""
    context = ssl.create_default_context(cadata=RUN.ca)
    context.check_hostname = False
    comm = await connect(address, timeout=3, ssl_context=context)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def test_only_a_client_with_the_runs_certificate_gets_in():
    results = asyncio.run(_handshakes())
    assert results["run's client"].startswith("joined tls://"), results
    for who in ("another run's client", "no certificate", "plain tcp"):
        assert results[who].startswith("refused"), results


def test_an_expired_certificate_is_refused():
    old = run_tls.issue("r", now=datetime.datetime.now(datetime.UTC) - run_tls.VALID_FOR - datetime.timedelta(hours=1))

    async def attempt() -> str:
        async with Scheduler(security=old.security(), protocol="tls", dashboard_address=":0", host="127.0.0.1") as s:
            try:
                return "joined " + await _connect(s.address, old.security())
            except Exception as exc:  # noqa: BLE001
                return f"refused: {exc}"

    assert asyncio.run(attempt()).startswith("refused")
