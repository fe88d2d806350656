"""The README's "Bring your own code" snippets, run as written (only the addresses of the
image, the wheel and the repository swapped for local ones), each giving the right table."""

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from daskrun.config import parse_config

from builders import THIRD_PARTY, make_tree_repo, third_party_expected, third_party_wheel
from cli_runner import REPO, run_cli


def snippets() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Bring your own code", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


IMAGE, PIP, GIT = range(3)


def run_snippet(tmp_path, snippet: str, *flags: str, **replace: str):
    for old, new in replace.items():
        assert old in snippet, f"the README snippet no longer mentions {old}"
        snippet = snippet.replace(old, new)
    config = yaml.safe_load(snippet)
    config["output"] = {"path": "result.csv"}
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("run", "values.yaml", "--local", *flags, cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "result.csv"), third_party_expected(6))
    return result


def test_there_are_three_ways_and_each_is_a_valid_values_file():
    found = snippets()
    assert len(found) == 3
    for snippet in found:
        parse_config(yaml.safe_load(snippet))


@pytest.mark.slow
def test_code_in_the_image(tmp_path):
    # The image's /opt/tuning, here a checkout of the same code.
    image_dir = tmp_path / "image-opt-tuning"
    bare = make_tree_repo(tmp_path, "tuning.git", THIRD_PARTY)
    subprocess.run(["git", "clone", "-q", str(bare), str(image_dir)], check=True)
    run_snippet(tmp_path, snippets()[IMAGE], **{"/opt/tuning": str(image_dir)})


@pytest.mark.slow
def test_pip_packages_isolated_leave_this_environment_alone(tmp_path, http_root):
    root, url = http_root
    wheel = third_party_wheel(tmp_path)
    shutil.copy(wheel, root / wheel.name)
    result = run_snippet(tmp_path, snippets()[PIP], "--isolated",
                         **{"https://files.example.com": url})
    assert "throw-away environment" in result.stderr
    check = subprocess.run([sys.executable, "-c", "import tuning_bench"], capture_output=True)
    assert check.returncode != 0  # installed into the overlay only, and that is gone
    assert list(tmp_path.glob("daskrun-isolated-*")) == []


@pytest.mark.slow
def test_git_repository_with_a_sub_folder(tmp_path, http_root):
    root, url = http_root
    shutil.copytree(make_tree_repo(tmp_path, "tuning.git", THIRD_PARTY), root / "readme-tuning.git")
    run_snippet(tmp_path, snippets()[GIT],
                **{"https://git.example.com/me/tuning.git": f"{url}/readme-tuning.git"})
