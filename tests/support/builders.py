"""Test inputs built on the spot: a wheel without a build backend, a bare git repository."""

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path


def make_wheel(tmp_path: Path, name="daskrun_probe", version="1.0", body="VALUE = 42\n") -> Path:
    """A minimal, valid wheel built by hand (no build backend needed)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    records = []
    for arcname, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{arcname},sha256={digest},{len(text.encode())}")
    records.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(records) + "\n"
    wheel = tmp_path / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for arcname, text in files.items():
            archive.writestr(arcname, text)
    return wheel


def make_repo(tmp_path: Path, dirname="origin", files: dict[str, str] | None = None) -> Path:
    """A bare git repository with `main` (module v1, plus `files`) and a `feature` branch (module v2)."""
    work = tmp_path / f"{dirname}-work"
    bare = tmp_path / dirname
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    work.mkdir()
    subprocess.run(git + ["init", "-q", "-b", "main", str(work)], check=True)
    (work / "probe_repo.py").write_text("def version():\n    return 1\n")
    for name, text in (files or {}).items():
        (work / name).write_text(text)
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-qm", "v1"], check=True)
    subprocess.run(git + ["-C", str(work), "checkout", "-qb", "feature"], check=True)
    (work / "probe_repo.py").write_text("def version():\n    return 2\n")
    subprocess.run(git + ["-C", str(work), "commit", "-qam", "v2"], check=True)
    subprocess.run(git + ["-C", str(work), "checkout", "-q", "main"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    # Lets a plain HTTP server serve it (git's "dumb" protocol).
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    return bare
