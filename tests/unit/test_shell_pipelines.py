"""No shell script under pipefail pipes into a reader that stops early (`head`, `grep -q`).

Such a reader closes the pipe while the writer may still write; the writer dies of SIGPIPE
and pipefail makes the whole pipeline fail. `kubectl cluster-info | head -1` so failed a
cluster that was up (exit 141), and in down.sh a `grep -q` over mountinfo would have read as
"nothing mounted" before an rm -rf. Count with `grep -c`, take a line with `sed -n 1p`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    REPO / name
    for name in subprocess.run(["git", "ls-files", "*.sh"], cwd=REPO, capture_output=True, text=True, check=True)
    .stdout.split()
)
EARLY_READER = re.compile(r"\|\s*(head\b|grep\s+(-[A-Za-z]*\s+)*-[A-Za-z]*q)")


def test_an_early_reader_fails_a_pipeline_under_pipefail():
    """Why the rule exists: the writer's SIGPIPE is the pipeline's status."""
    done = subprocess.run(["bash", "-c", "set -o pipefail; yes | head -1 >/dev/null"], check=False)
    assert done.returncode == 141
    assert subprocess.run(["bash", "-c", "set -o pipefail; seq 100000 | sed -n 1p >/dev/null"]).returncode == 0


def test_the_scripts_are_found():
    assert any(path.name == "up.sh" for path in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(path.relative_to(REPO)) for path in SCRIPTS])
def test_no_pipeline_ends_in_an_early_reader(script):
    text = script.read_text()
    if "pipefail" not in text:
        return
    found = [f"{script.name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
             if not line.lstrip().startswith("#") and EARLY_READER.search(line)]
    assert not found, "a reader that stops early under pipefail:\n" + "\n".join(found)
