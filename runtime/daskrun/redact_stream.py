"""Credential redaction with the standard library only, for two callers.

`daskrun.credentials` imports it for the launcher's own log. The bootstrap puts this file's
source into the setup script of every Dask pod, whose image may be the user's own without
daskrun: run as a program there, it copies the setup's output to stderr with the secrets
masked, so a git or pip error, or an install command that prints its token, does not reach
the pod's log (`kubectl logs`, and any log shipper) in clear. One implementation, so the pod
and the launcher can never redact differently.
"""

import os
import re
import signal
import sys

# Bounded: an unbounded run is tried from every position of a long word (10^5 digits took a
# minute). A longer scheme still has its user info found, from a later start.
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]{0,63}://"
# Any user info on http(s) (`https://TOKEN@host` is a token), a password on any scheme
# (`ssh://git@host` is a plain user name and fine).
CREDENTIAL_URL = re.compile(
    r"(?P<scheme>(?:[A-Za-z0-9+.-]{0,63}\+)?https?://)(?P<userinfo>[^/\s@?#]+)@"
    r"|(?P<scheme2>" + _SCHEME + r")(?P<userinfo2>[^/\s@:?#]*:[^/\s@?#]*)@",
    re.IGNORECASE,
)
# The keyword is looked for once, ahead, from each `?`/`&`: a keyword between two unbounded
# runs backtracks quadratically on a long name (10^6 characters took minutes).
SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?=[\w.-]*?(?:token|password|passwd|secret|signature|api[_-]?key))[\w.-]+)=(?P<value>[^&\s#]+)",
    re.IGNORECASE,
)

MASKED = "***"
# The variables whose values are secrets (not the user names or known_hosts): a command of
# the user's (git_repository.install, a script) may print one, which no pattern recognises.
SECRET_VALUE_ENV = (
    "DASKRUN_GIT_TOKEN",
    "DASKRUN_GIT_SSH_KEY",
    "DASKRUN_PIP_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# Shorter values would redact ordinary words of the log.
SHORTEST_SECRET = 6


def secret_values(environ=os.environ):
    """The secret values of `environ`, longest first; a key file line by line."""
    values = {
        line.strip()
        for name in SECRET_VALUE_ENV
        for line in environ.get(name, "").splitlines()
        if len(line.strip()) >= SHORTEST_SECRET
    }
    return sorted(values, key=len, reverse=True)


def redact_with(text, values):
    """`text` with URL credentials, secret-looking query values and each of `values` as ***."""
    # The values first: a pattern's rewrite could cut one so that it is no longer found.
    for value in values:
        text = text.replace(value, MASKED)
    text = CREDENTIAL_URL.sub(lambda m: (m["scheme"] or m["scheme2"]) + "***@", text)
    return SECRET_QUERY.sub(lambda m: m["name"] + "=***", text)


def copy_redacted(source, target, end, chunk=65536):
    """Lines read from file descriptor `source`, redacted, to the binary stream `target`, up
    to the line `end`; returns the bytes read after that line. Unbuffered reads of our own, so
    what follows the end line is known to the byte and can be handed on."""
    values = secret_values()
    pending = b""
    while True:
        data = os.read(source, chunk)
        if not data:
            lines, pending = pending.splitlines(keepends=True), b""
        else:
            pending += data
            lines = pending.splitlines(keepends=True)
            pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        for index, raw in enumerate(lines):
            if raw.rstrip(b"\r\n") == end:
                target.flush()
                return b"".join(lines[index + 1 :]) + pending
            target.write(redact_with(raw.decode("utf-8", "replace"), values).encode("utf-8"))
        target.flush()
        if not data:
            return b""


# What is written to the pipe after the setup ends comes from processes the setup left
# running: passed on as it is, by a process with an empty environment (no secret in it or its
# memory), so such a process neither blocks on a full pipe nor dies of a closed one.
_PASS_ON = (
    "import os, sys\n"
    "while True:\n"
    "    data = os.read(0, 65536)\n"
    "    if not data:\n"
    "        break\n"
    "    os.write(2, data)\n"
)


def _main(end):
    import subprocess

    # The setup's deadline stops what the setup started; the filter outlives that to pass
    # on the last lines, and ends at the line the script writes when setup ends (not at end
    # of file: a process the setup left running may hold the pipe for as long as it runs).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    rest = copy_redacted(0, sys.stderr.buffer, end)
    if rest:
        sys.stderr.buffer.write(rest)
        sys.stderr.buffer.flush()
    subprocess.Popen(
        [sys.executable, "-c", _PASS_ON], stdin=0, stdout=subprocess.DEVNULL, env={}, start_new_session=True
    )


if __name__ == "__main__":
    _main(sys.argv[1].encode())
