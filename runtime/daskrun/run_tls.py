"""A run's own certificate authority: every Dask process of the run speaks TLS and refuses a
peer without a certificate of this run (Dask's `distributed.comm.tls` settings).

A Dask scheduler runs whatever code any client sends it, on every worker, so whoever can
connect owns the run. Each run gets a fresh CA whose private key is dropped as soon as the
three certificates are signed: nobody, the launcher included, can issue a fourth. Dask checks
that a peer's certificate chains to the run's CA (and not the host name: pods are reached by
IP), so a certificate of one run admits to that run only. Dask does not tell roles apart once
a peer is in; the roles are separate keys so that each pod mounts only its own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

ROLES = ("scheduler", "worker", "client")
VALID_FOR = datetime.timedelta(days=30)  # a run lasts hours; a worker joining on day 31 is refused
CLOCK_SKEW = datetime.timedelta(minutes=5)  # certificates are valid from a little before issue
CA_FILE = "ca.crt"
MOUNT = "/daskrun-tls"  # where a Dask pod's container finds its role's files
SCHEME = "tls"
ENV_PREFIX = "DASK_DISTRIBUTED__COMM__"  # Dask's comm settings, which a run with TLS gets from here


SECRET_SUFFIX = "-tls"  # the chart's Role names `<job><suffix>`


def secret_name(cluster_name: str) -> str:
    """The Secret holding a run's certificates."""
    return f"{cluster_name}{SECRET_SUFFIX}"


def cert_file(role: str) -> str:
    return f"{role}.crt"


def key_file(role: str) -> str:
    return f"{role}.key"


@dataclass(frozen=True)
class RunCertificates:
    """PEM text of the run's CA certificate and of each role's certificate and key."""

    ca: str
    certs: dict[str, str]
    keys: dict[str, str] = field(repr=False)  # never in a log line or a traceback
    not_after: datetime.datetime

    def __repr__(self) -> str:
        return f"RunCertificates(roles={sorted(self.certs)}, not_after={self.not_after.isoformat()})"

    def secret_data(self) -> dict[str, str]:
        data = {CA_FILE: self.ca}
        for role in ROLES:
            data[cert_file(role)] = self.certs[role]
            data[key_file(role)] = self.keys[role]
        return data

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> RunCertificates:
        """From a Secret's decoded data; a missing key is a KeyError naming it."""
        from cryptography import x509

        ca = data[CA_FILE]
        certs = {role: data[cert_file(role)] for role in ROLES}
        keys = {role: data[key_file(role)] for role in ROLES}
        not_after = x509.load_pem_x509_certificate(ca.encode()).not_valid_after_utc
        return cls(ca, certs, keys, not_after)

    def security(self) -> Any:
        """A distributed Security with every role, from memory (no key file on this host): the
        launcher's client, and on `--local` the scheduler and workers of its LocalCluster."""
        from distributed.security import Security

        roles = {
            f"tls_{r}_{part}": pem for r in ROLES for part, pem in (("cert", self.certs[r]), ("key", self.keys[r]))
        }
        return Security(require_encryption=True, tls_ca_file=self.ca, **roles)


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())  # milliseconds, where RSA takes tens


def _pem_key(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def issue(run_name: str, now: datetime.datetime | None = None) -> RunCertificates:
    """A new CA for `run_name` and a certificate per role, each valid for VALID_FOR."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.datetime.now(datetime.UTC)
    start, end = now - CLOCK_SKEW, (now + VALID_FOR).replace(microsecond=0)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"daskrun run {run_name} CA"[:64])])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs: dict[str, str] = {}
    keys: dict[str, str] = {}
    for role in ROLES:
        key = _key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{run_name} {role}"[:64])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs=False), critical=True)
            # Every Dask process both listens and connects (workers talk to each other).
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"daskrun-{role}")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        certs[role] = cert.public_bytes(serialization.Encoding.PEM).decode()
        keys[role] = _pem_key(key)
    del ca_key  # the CA signs these three and no more
    return RunCertificates(ca.public_bytes(serialization.Encoding.PEM).decode(), certs, keys, ca.not_valid_after_utc)


def _key_usage(signs: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not signs,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs,
        crl_sign=signs,
        encipher_only=False,
        decipher_only=False,
    )


def secret_manifest(
    certs: RunCertificates, cluster_name: str, namespace: str, labels: dict[str, str], owner: dict[str, Any] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": secret_name(cluster_name),
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": {"daskrun.io/tls-not-after": certs.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    if owner:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": certs.secret_data(),
    }


# --- what a Dask pod of the run gets: its role's files and Dask's settings naming them ---


def volume(cluster_name: str, role: str) -> dict[str, Any]:
    """A Secret volume with the CA and one role's certificate and key, nothing else."""
    files = (CA_FILE, cert_file(role), key_file(role))
    return {
        "name": volume_name(role),
        "secret": {"secretName": secret_name(cluster_name), "items": [{"key": f, "path": f} for f in files]},
    }


def volume_name(role: str) -> str:
    return f"daskrun-tls-{role}"


def mount(role: str) -> dict[str, Any]:
    return {"name": volume_name(role), "mountPath": MOUNT, "readOnly": True}


def dask_env(role: str) -> list[dict[str, str]]:
    """Dask's TLS settings for a process of `role`; its client side (a worker's drain, the
    driver's Client) uses the same certificate."""
    settings = {
        f"{ENV_PREFIX}REQUIRE_ENCRYPTION": "True",
        f"{ENV_PREFIX}DEFAULT_SCHEME": SCHEME,
        f"{ENV_PREFIX}TLS__CA_FILE": f"{MOUNT}/{CA_FILE}",
    }
    for side in sorted({role, "client"}):
        settings[f"{ENV_PREFIX}TLS__{side.upper()}__CERT"] = f"{MOUNT}/{cert_file(role)}"
        settings[f"{ENV_PREFIX}TLS__{side.upper()}__KEY"] = f"{MOUNT}/{key_file(role)}"
    return [{"name": k, "value": v} for k, v in settings.items()]
