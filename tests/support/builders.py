"""Test inputs built on the spot: a wheel without a build backend, a bare git repository."""

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path


def make_wheel(
    tmp_path: Path,
    name="daskrun_probe",
    version="1.0",
    body="VALUE = 42\n",
    modules: dict[str, str] | None = None,
    requires: tuple[str, ...] = (),
) -> Path:
    """A minimal, valid wheel built by hand (no build backend needed): package `name` with
    `body`, or the files of `modules` (path in the wheel -> text), depending on `requires`."""
    dist = f"{name}-{version}.dist-info"
    needs = "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {
        **(modules or {f"{name}/__init__.py": body}),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{needs}",
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


def make_tree_repo(tmp_path: Path, dirname: str, files: dict[str, str]) -> Path:
    """A bare git repository (servable over dumb HTTP) whose `main` holds `files` (paths may
    have folders)."""
    work = tmp_path / f"{dirname}-work"
    bare = tmp_path / dirname
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    subprocess.run(git + ["init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-qm", "import"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    return bare


# A third-party benchmark as users meet them: its package sits in `benchmark/`, whose
# setup.py does not work; it imports a helper from `lib/` and a module by an old name that
# only the compatibility shim in `compat/` provides -- so its tasks unpickle only in a
# process where the shim ran first.
THIRD_PARTY = {
    "README.md": "A tuning benchmark. Put benchmark/ and lib/ on the path, preload compat/shim.py.\n",
    "benchmark/setup.py": 'raise SystemExit("this setup.py is broken: use the folder on the path")\n',
    "benchmark/tuning_bench/__init__.py": "",
    "benchmark/tuning_bench/tasks.py": """
import os
import socket
import sys

import pandas as pd
from distributed import get_client

import legacy_collections  # the old name, provided by compat/shim.py
from bench_helpers import square  # lib/, on python_path


def process():
    return f"{socket.gethostname()}:{os.getpid()}"


def score(x):
    return {"x": x, "score": square(x) + legacy_collections.OFFSET, "process": process()}


def scheduler_has_the_shim():
    return "legacy_collections" in sys.modules


def run_benchmark(rounds=4):
    client = get_client()
    rows = client.gather(client.map(score, range(rounds)))
    frame = pd.DataFrame(rows)
    frame["worker_process"] = frame.pop("process") != process()
    frame["scheduler_shim"] = client.run_on_scheduler(scheduler_has_the_shim)
    return frame
""",
    "lib/bench_helpers.py": "def square(x):\n    return x * x\n",
    "compat/shim.py": """
import sys
import types

legacy = types.ModuleType("legacy_collections")
legacy.OFFSET = 100
sys.modules["legacy_collections"] = legacy
""",
}


def third_party_setup(url: str) -> dict:
    """Its `worker_config.setup`: the sub-folder on the path, a helper folder, the shim preloaded."""
    return {
        "git_repository": {"url": url, "subdirectory": "benchmark"},
        "python_path": ["lib"],
        "preload": ["compat/shim.py"],
    }


def third_party_expected(n: int):
    """The DataFrame `tuning_bench.tasks:run_benchmark(rounds=n)` returns when every process is set up."""
    import pandas as pd

    return pd.DataFrame(
        {"x": range(n), "score": [x * x + 100 for x in range(n)], "worker_process": True, "scheduler_shim": True}
    )


# A proper sub-package, installed with a real `pip install ./sub`.
SUB_PACKAGE = {
    "sub/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    '\n[project]\nname = "daskrun-subpkg-probe"\nversion = "1.0"\n',
    "sub/subpkg_probe/__init__.py": "VALUE = 7\n\n\ndef frame():\n    import pandas as pd\n\n"
    "    return pd.DataFrame({'value': [VALUE]})\n",
}


def third_party_wheel(tmp_path: Path) -> Path:
    """The benchmark as a wheel: its package, the helper, and the shim as module
    `tuning_bench_compat` (to preload by name)."""
    modules = {
        name.split("/", 1)[1]: text
        for name, text in THIRD_PARTY.items()
        if name.startswith(("benchmark/tuning_bench/", "lib/"))
    }
    modules["tuning_bench_compat.py"] = THIRD_PARTY["compat/shim.py"]
    return make_wheel(tmp_path, name="tuning_bench", modules=modules)
