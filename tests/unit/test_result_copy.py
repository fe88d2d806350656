"""The copy of a result stored in the launcher pod's own filesystem, in a ConfigMap of its Job
(daskrun.result_copy): what it holds, what reading it refuses, and the launcher writing it
through the real `kubernetes` client to a real HTTP stand-in for the API (tests/support/fake_kube.py)."""

from __future__ import annotations

import base64
import gzip
import io
import logging
import os

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun import result_copy, run_status
from daskrun.config import load_config
from daskrun.context import RunContext
from daskrun.result_block import recover
from daskrun.runner import keep_result

JOB = "bench-daskrun-r1-1a2b3c4d"
OWNER = {"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "job-uid-1",
         "blockOwnerDeletion": False, "controller": False}
TABLE = pd.DataFrame({"model": ["a", "b"], "score": [0.5, 0.25]})
# The API server's limit on a ConfigMap's data (k8s.io/api core/v1 MaxSecretSize's twin).
API_SERVER_LIMIT = 1024 * 1024


def pod(**changes) -> RunContext:
    defaults = dict(namespace="runs", release="bench", run_id="1", name=JOB, owner=OWNER, job_uid="job-uid-1",
                    lasting_mounts=("/results",))
    return RunContext(**{**defaults, **changes})


def copy_of(data: bytes, fmt: str = "csv", stored_at: str = "r.csv") -> dict:
    return result_copy.manifest(result_copy.pack([data]), fmt, stored_at, pod(), JOB)


@given(st.lists(st.binary(max_size=5_000), max_size=5), st.sampled_from(["csv", "parquet"]),
       st.text(min_size=1, max_size=60))
def test_any_file_in_any_chunks_round_trips_with_its_format_and_place(chunks, fmt, stored_at):
    packed = result_copy.pack(chunks)
    copy = result_copy.unpack(result_copy.manifest(packed, fmt, stored_at, pod(), JOB))
    assert (copy.data, copy.fmt, copy.stored_at) == (b"".join(chunks), fmt, stored_at)
    assert packed.size == len(copy.data)


def test_the_copy_belongs_to_the_job_and_cannot_be_edited():
    manifest = copy_of(b"a,b\n1,2\n", "csv", "/home/daskrun/r.csv")
    assert manifest["metadata"]["name"] == f"{JOB}{result_copy.CONFIG_MAP_SUFFIX}"
    assert manifest["metadata"]["ownerReferences"] == [OWNER]  # garbage-collected with the Job
    assert manifest["metadata"]["labels"]["app.kubernetes.io/instance"] == "bench"
    assert manifest["immutable"] is True


def test_the_limit_leaves_room_inside_what_the_api_server_takes():
    assert result_copy.LIMIT < API_SERVER_LIMIT - 16 * 1024


def test_a_result_too_large_even_gzipped_is_refused_naming_the_sizes():
    data = os.urandom(result_copy.LIMIT + 1)  # random bytes do not compress
    with pytest.raises(result_copy.TooLarge, match="more than the 1,000,000 bytes a ConfigMap holds"):
        result_copy.pack([data])


def test_a_huge_file_is_given_up_without_reading_it_all():
    read = []

    def chunks():
        while True:
            read.append(1)
            yield os.urandom(1 << 16)

    with pytest.raises(result_copy.TooLarge, match=r"more than the 1,000,000 bytes a ConfigMap holds, gzipped, after [\d,]+ bytes of the file"):
        result_copy.pack(chunks())
    assert len(read) * (1 << 16) < 2 * result_copy.LIMIT


@given(st.binary(min_size=1, max_size=2_000), st.data())
def test_any_changed_byte_is_refused(data, draw):
    manifest = copy_of(data)
    raw = bytearray(gzip.decompress(base64.b64decode(manifest["binaryData"][result_copy.DATA_KEY])))
    at = draw.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= draw.draw(st.integers(1, 255))
    manifest["binaryData"][result_copy.DATA_KEY] = base64.b64encode(gzip.compress(bytes(raw))).decode()
    with pytest.raises(result_copy.NotACopy, match="does not match the sha256"):
        result_copy.unpack(manifest)


@pytest.mark.parametrize("break_it", ["no data", "no digest", "not base64", "not gzip"])
def test_a_configmap_that_is_not_a_whole_copy_is_refused(break_it):
    manifest = copy_of(b"a\n1\n")
    if break_it == "no data":
        del manifest["binaryData"]
    elif break_it == "no digest":
        del manifest["metadata"]["annotations"][result_copy.SHA256_ANNOTATION]
    elif break_it == "not base64":
        manifest["binaryData"][result_copy.DATA_KEY] = "not base64!"
    else:
        manifest["binaryData"][result_copy.DATA_KEY] = base64.b64encode(b"plain").decode()
    with pytest.raises(result_copy.NotACopy):
        result_copy.unpack(manifest)


# -- the launcher keeping it ------------------------------------------------------------------


@pytest.fixture
def kube(fake_api):
    return fake_api


def config(path) -> object:
    return load_config({"run": {"function": "a.b"}, "output": {"path": str(path)}})


def _launcher_log(records: list[logging.LogRecord]) -> str:
    """The records as the launcher writes them (daskrun.cli's format), for daskrun status."""
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return "".join(formatter.format(record) + "\n" for record in records)


def test_a_file_in_the_pods_filesystem_is_copied_not_printed_and_status_names_the_copy(kube, tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="daskrun"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), pod()) is None
    name = f"{JOB}-result"
    copy = result_copy.unpack(kube.config_maps[name])
    assert copy.data == (tmp_path / "r.csv").read_bytes() and copy.fmt == "csv"
    assert kube.config_maps[name]["metadata"]["ownerReferences"] == [OWNER]
    assert "BEGIN DASKRUN RESULT" not in capsys.readouterr().out  # the copy keeps it: no block
    job = {"metadata": {"name": JOB, "labels": {"app.kubernetes.io/instance": "bench"}},
           "spec": {"template": {"spec": {"containers": [{"name": "daskrun", "volumeMounts": []}], "volumes": []}}}}
    where = run_status.result_place(_launcher_log(caplog.records), "succeeded", 0, job)
    assert where == f"in configmap/{name} (the file went with the pod): daskrun result bench -o FILE"


def test_an_earlier_attempts_copy_is_replaced(kube, tmp_path):
    kube.config_maps[f"{JOB}-result"] = copy_of(b"old\n")
    assert keep_result(TABLE, config(tmp_path / "r.csv"), pod()) is None
    assert result_copy.unpack(kube.config_maps[f"{JOB}-result"]).data == (tmp_path / "r.csv").read_bytes()


def _printed_instead(capsys, caplog, tmp_path) -> str:
    assert "goes with the pod: it is printed below too" in caplog.text
    printed = capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(recover(printed))), pd.read_csv(tmp_path / "r.csv"))
    return caplog.text


def test_a_role_without_the_right_prints_the_result_instead(kube, tmp_path, capsys, caplog):
    kube.denied.add(("", "configmaps", "", "create"))
    with caplog.at_level(logging.INFO, logger="daskrun"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), pod()) is None
    said = _printed_instead(capsys, caplog, tmp_path)
    assert f"no copy of the result in configmap/{JOB}-result: configmaps is forbidden" in said
    assert "needs create on configmaps and delete on that name" in said
    assert not kube.config_maps


def test_a_result_too_large_for_a_configmap_is_printed_instead(kube, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.setattr(result_copy, "LIMIT", 10)
    with caplog.at_level(logging.INFO, logger="daskrun"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), pod()) is None
    said = _printed_instead(capsys, caplog, tmp_path)
    assert "more than the 10 bytes a ConfigMap holds" in said
    assert not kube.config_maps


def test_an_api_server_that_does_not_answer_holds_the_launcher_only_so_long(kube, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.setattr(result_copy, "REQUEST_TIMEOUT", 0.3)
    kube.config_map_delay = 3
    with caplog.at_level(logging.INFO, logger="daskrun"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), pod()) is None
    said = _printed_instead(capsys, caplog, tmp_path)
    assert f"no copy of the result in configmap/{JOB}-result:" in said and "timed out" in said
    assert "needs create on configmaps" not in said  # not a matter of rights


def test_outside_a_job_there_is_nothing_to_own_the_copy_so_it_is_printed(kube, tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="daskrun"):
        assert keep_result(TABLE, config(tmp_path / "r.csv"), pod(owner=None)) is None
    _printed_instead(capsys, caplog, tmp_path)
    assert not kube.config_maps


def test_a_file_on_a_lasting_volume_is_neither_copied_nor_printed(kube, tmp_path, capsys):
    assert keep_result(TABLE, config(tmp_path / "r.csv"), pod(lasting_mounts=(str(tmp_path),))) is None
    assert not kube.config_maps and "BEGIN DASKRUN RESULT" not in capsys.readouterr().out
