"""Which DaskCluster a launcher may re-attach to, and what it does with its driver."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun import driver_files as files
from daskrun.reattach import Found, Step, decide, next_step
from daskrun.run_labels import JOB_LABEL, REVISION_LABEL

JOB = "job-uid-1"


def cluster(job=JOB, revision="1", deleting=False, owners=(JOB,)):
    labels = {}
    if job is not None:
        labels[JOB_LABEL] = job
    if revision is not None:
        labels[REVISION_LABEL] = revision
    metadata = {"name": "bench-r1-abc", "labels": labels,
                "ownerReferences": [{"kind": "Job", "uid": uid} for uid in owners]}
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-02T10:00:00Z"
    return {"metadata": metadata}


@pytest.mark.parametrize(
    ("found", "verdict", "why"),
    [
        (None, Found.CREATE, "no DaskCluster"),
        (cluster(), Found.CONNECT, "of this Job exists"),
        (cluster(revision=None), Found.CONNECT, "of this Job exists"),
        (cluster(deleting=True), Found.WAIT_GONE, "being deleted"),
        (cluster(job="job-uid-0", owners=("job-uid-0",)), Found.WAIT_GONE, "earlier Job job-uid-0 of the same name"),
        (cluster(job="job-uid-0", owners=()), Found.REFUSE, "belongs to Job job-uid-0, this launcher's Job is job-uid-1"),
        (cluster(job=None, owners=()), Found.REFUSE, "belongs to no Job"),
        (cluster(revision="2"), Found.REFUSE, "revision 2's, this launcher runs revision 1"),
    ],
)
def test_whose_cluster_decides(found, verdict, why):
    got, message = decide(found, JOB, "1")
    assert got is verdict
    assert why in message


def test_a_launcher_outside_a_job_never_connects_to_a_jobs_cluster():
    assert decide(cluster(owners=()), None, "1")[0] is Found.REFUSE


@given(
    job=st.one_of(st.none(), st.text(max_size=8)),
    theirs=st.one_of(st.none(), st.text(max_size=8)),
    revision=st.one_of(st.none(), st.text(max_size=3)),
    their_revision=st.one_of(st.none(), st.text(max_size=3)),
    deleting=st.booleans(),
    owned=st.booleans(),
)
def test_a_cluster_is_only_ever_joined_by_its_own_jobs_launcher(job, theirs, revision, their_revision, deleting, owned):
    found = cluster(job=theirs, revision=their_revision, deleting=deleting, owners=(theirs,) if owned else ())
    verdict, _ = decide(found, job, revision)
    if verdict is Found.CONNECT:
        assert job is not None and theirs == job and not deleting
        assert their_revision is None or revision is None or their_revision == revision
    assert verdict is not Found.CREATE  # something is there: never created over


@pytest.mark.parametrize(
    ("record", "started_before", "step"),
    [
        (None, False, Step.START),
        ({"state": files.WAITING}, False, Step.START),
        ({"state": files.WAITING}, True, Step.REPLACE),
        (None, True, Step.REPLACE),
        ({"state": files.RUNNING}, True, Step.FOLLOW),
        ({"state": files.RUNNING}, False, Step.FOLLOW),  # lost between go and its annotation
        ({"state": files.DONE}, True, Step.COLLECT),
        ({"state": files.FAILED}, True, Step.COLLECT),
    ],
)
def test_what_a_launcher_does_with_the_driver_it_finds(record, started_before, step):
    assert next_step(record, started_before) is step
