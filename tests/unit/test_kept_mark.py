"""The Job's "result kept" mark (daskrun.kept_mark): what it reads as, and that failing to
write or read it never fails a run whose result is kept. Marking a real Job and a replaced
launcher that finds the mark are in tests/e2e/test_resume.py."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from daskrun import kept_mark
from daskrun.context import RunContext
from daskrun.run_labels import KEPT_ANNOTATION

JOB = {"apiVersion": "batch/v1", "kind": "Job", "name": "r-daskrun-r1", "uid": "u-1"}


def test_a_mark_written_reads_back_with_its_pod_and_time():
    value = kept_mark.mark_value("r-daskrun-r1-abcde", now=0)
    assert kept_mark.read_mark({KEPT_ANNOTATION: value}) == {"pod": "r-daskrun-r1-abcde", "at": "1970-01-01T00:00:00Z"}


def test_no_annotation_is_no_mark():
    assert kept_mark.read_mark(None) is None
    assert kept_mark.read_mark({}) is None
    assert kept_mark.read_mark({"other": "x"}) is None


@given(st.text())
def test_any_value_under_the_annotation_counts_as_kept_and_never_raises(raw):
    # Edited by hand or by an older daskrun: running the function twice costs more than not.
    mark = kept_mark.read_mark({KEPT_ANNOTATION: raw})
    assert mark is not None and set(mark) >= {"pod", "at"}


@given(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.none(), st.lists(st.integers()))))
def test_a_json_object_of_any_shape_reads_as_strings(value):
    mark = kept_mark.read_mark({KEPT_ANNOTATION: json.dumps(value)})
    assert mark is not None and all(isinstance(v, str) for v in mark.values())


def test_only_a_launcher_owned_by_a_job_has_a_job_to_mark():
    assert kept_mark.job_name(RunContext(owner=JOB)) == "r-daskrun-r1"
    assert kept_mark.job_name(RunContext()) is None
    assert kept_mark.job_name(RunContext(owner={**JOB, "kind": "Pod"})) is None


def test_an_unreachable_api_server_is_a_warning_never_a_failure(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    context = RunContext(owner=JOB, namespace="ns", pod_name="r-daskrun-r1-abcde")
    with caplog.at_level(logging.WARNING, logger="daskrun.kept_mark"):
        kept_mark.mark(context)
        assert kept_mark.earlier(context) is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not mark Job r-daskrun-r1 as kept" in m and "run the function again" in m for m in messages)
    assert any("could not read Job r-daskrun-r1" in m for m in messages)


def test_outside_a_job_nothing_is_asked_of_the_api_server(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with caplog.at_level(logging.WARNING, logger="daskrun.kept_mark"):
        kept_mark.mark(RunContext())
        assert kept_mark.earlier(RunContext()) is None
    assert not caplog.records
