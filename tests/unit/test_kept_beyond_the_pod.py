"""A result stored in the launcher pod's own filesystem (the default install: no claim, no S3)
is printed into the log too when no Job can own a copy of it (daskrun.result_copy, tested in
test_result_copy.py), so it outlives the pod; one stored on a lasting volume is not."""

from __future__ import annotations

import io
import logging

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun.config import load_config
from daskrun.context import RunContext
from daskrun.result_block import recover
from daskrun.runner import goes_with_the_pod, keep_result

TABLE = pd.DataFrame({"model": ["a", "b"], "score": [0.5, 0.25]})


def config(path) -> object:
    return load_config({"run": {"function": "a.b"}, "output": {"path": str(path)}})


def test_a_file_in_the_pods_own_filesystem_is_printed_too_and_recovers_to_the_same_table(tmp_path, capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="daskrun.runner"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), RunContext(lasting_mounts=("/results",))) is None
    assert (tmp_path / "r.csv").is_file()
    assert "goes with the pod: it is printed below too" in caplog.text and "daskrun result" in caplog.text
    printed = capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(recover(printed))), pd.read_csv(tmp_path / "r.csv"))


@pytest.mark.parametrize("lasting", [None, "the folder"], ids=["not-in-a-pod", "on-a-claim"])
def test_a_file_on_a_lasting_volume_or_outside_a_pod_is_not_printed(tmp_path, capsys, lasting):
    pod = None if lasting is None else RunContext(lasting_mounts=(str(tmp_path),))
    assert keep_result(TABLE, config(tmp_path / "sub" / "r.csv"), pod) is None
    assert "BEGIN DASKRUN RESULT" not in capsys.readouterr().out


def test_a_mount_is_a_folder_not_a_prefix_of_the_name():
    assert goes_with_the_pod("/results-old/r.csv", ("/results",))
    assert not goes_with_the_pod("/results/r.csv", ("/results",))
    assert not goes_with_the_pod("/results/a/../r.csv", ("/results/",))
    assert goes_with_the_pod("/results/../home/r.csv", ("/results",))
    assert not goes_with_the_pod("/data/r.csv", ("/",))


@given(st.lists(st.sampled_from(["a", "b", "..", "."]), min_size=1, max_size=6),
       st.lists(st.sampled_from(["a", "b"]), max_size=3))
def test_under_a_mount_means_inside_it_after_dots_are_resolved(parts, mount_parts):
    import os.path

    mount = "/" + "/".join(mount_parts)
    path = os.path.normpath("/" + "/".join(parts))
    inside = path == mount or path.startswith(mount.rstrip("/") + "/")
    assert goes_with_the_pod("/" + "/".join(parts), (mount,)) is not inside
