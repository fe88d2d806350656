"""README says `make help` lists all targets: every target a makefile declares .PHONY is there,
named, with its description."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILES = ("Makefile", "tools.mk", "tests/cluster/cluster.mk")


def phony_targets() -> set[str]:
    targets: set[str] = set()
    for name in MAKEFILES:
        for line in (ROOT / name).read_text().splitlines():
            if line.startswith(".PHONY:"):
                targets.update(line.removeprefix(".PHONY:").split())
    return targets


def help_lines() -> dict[str, str]:
    out = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    listed = {}
    for line in out.splitlines():
        target, _, description = line.partition(" ")
        listed[target] = description.strip()
    return listed


def test_make_help_names_every_phony_target_with_its_description():
    listed = help_lines()
    missing = sorted(phony_targets() - listed.keys())
    assert not missing, f"make help leaves out {missing}: give each target a '## description'"
    assert all(listed[target] for target in phony_targets()), listed


def test_make_help_lists_targets_only_never_a_file_name():
    listed = help_lines()
    assert not [t for t in listed if re.search(r"\.mk$|^Makefile$|/", t)], listed
    assert len(listed) >= 20  # the three makefiles together
