"""Credentials for private code and packages: read from the environment, never from the config.

In pods the chart's (or your existing) Secret fills these variables through ``secretKeyRef``;
the launcher hands the Secret's *name* to the scheduler and workers, never a value. A local
run reads the same variables from your shell. The config itself (ConfigMap, pod specs, logs)
must hold no credential, so URLs with one are refused and anything resembling one is redacted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from daskrun import redact_stream

GIT_USERNAME = "DASKRUN_GIT_USERNAME"  # HTTPS basic-auth user; default DEFAULT_GIT_USERNAME
GIT_TOKEN = "DASKRUN_GIT_TOKEN"  # HTTPS token or password
GIT_SSH_KEY = "DASKRUN_GIT_SSH_KEY"  # a private deploy key (OpenSSH format)
GIT_KNOWN_HOSTS = "DASKRUN_GIT_KNOWN_HOSTS"  # known_hosts lines of the git host(s)
PIP_USERNAME = "DASKRUN_PIP_USERNAME"  # index user; default DEFAULT_PIP_USERNAME
PIP_PASSWORD = "DASKRUN_PIP_PASSWORD"  # index password or token

GIT_ENV = (GIT_USERNAME, GIT_TOKEN, GIT_SSH_KEY, GIT_KNOWN_HOSTS)
PIP_ENV = (PIP_USERNAME, PIP_PASSWORD)
# Also the keys of the Secret: the chart maps each key to the variable of the same name.
ENV = GIT_ENV + PIP_ENV

# GitHub and GitLab accept any user with a token; GitHub documents this one.
DEFAULT_GIT_USERNAME = "x-access-token"
# The user name PyPI-style token indexes expect.
DEFAULT_PIP_USERNAME = "__token__"

# The patterns, the secret variables and the masking are daskrun.redact_stream's: Dask pods
# run that module's source on their setup output, and the two must redact alike.
MASKED = redact_stream.MASKED
SECRET_VALUE_ENV = redact_stream.SECRET_VALUE_ENV


def redact(text: str) -> str:
    """`text` with URL credentials, secret-looking query values and the values of the secret
    variables of this process's environment replaced by ***."""
    return redact_stream.redact_with(text, redact_stream.secret_values())


# Argument names that say their value is a secret: printed and recorded as *** (the function
# still gets the value).
_SECRET_NAME = re.compile(r"(?i)(passw(or)?d|secret|token|api_?key|access_?key|credential|private_?key)")


def masked_args(args: dict[str, Any]) -> dict[str, Any]:
    """`args` with the values of secret-named arguments replaced by *** (for logs and run.json)."""
    return {key: MASKED if isinstance(key, str) and _SECRET_NAME.search(key) else value for key, value in args.items()}


def has_credential(text: str) -> bool:
    return redact(text) != text


def url_host(url: str) -> str | None:
    """The host name of an http(s) URL (no port: netrc matches on the name alone)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


_WHERE = {
    "git_repository": f"put the token in the Secret as {GIT_TOKEN} (or the deploy key as {GIT_SSH_KEY})",
    "pip": f"put the password or token in the Secret as {PIP_PASSWORD} (user: {PIP_USERNAME})",
}


def credential_errors(data: Any, path: str = "") -> list[tuple[str, str]]:
    """One (key, message) per string in `data` that carries a credential.

    `output.key`/`output.secret_key` are not searched: the chart keeps them in a Secret.
    """
    errors: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if child in ("output.key", "output.secret_key"):
                continue
            errors += credential_errors(value, child)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            errors += credential_errors(value, f"{path}[{index}]")
    elif isinstance(data, str) and has_credential(data):
        kind = "git_repository" if "git_repository" in path else "pip" if ".pip_" in path else None
        how = _WHERE[kind] if kind else "pass it through a Secret as an environment variable"
        errors.append(
            (
                path,
                f"{redact(data)!r} contains a credential, which would be stored in the "
                f"ConfigMap, the pod specs and the logs; remove it and {how} "
                "(chart: codeCredentials; local runs: the environment variable)",
            )
        )
    return errors


def secret_env(secret: str, names: tuple[str, ...] = ENV) -> list[dict[str, Any]]:
    """Pod env entries that read `names` from the Secret; optional, so any subset may exist."""
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name, "optional": True}}} for name in names
    ]


class TextFilter(logging.Filter):
    """Rewrites every record's text (message with its arguments, traceback, stack) with
    `clean` before any handler writes it."""

    def __init__(self, clean: Callable[[str], str]):
        super().__init__()
        self.clean = clean

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class RedactingFilter(TextFilter):
    """Redacts every record before any handler writes it."""

    def __init__(self) -> None:
        super().__init__(redact)
