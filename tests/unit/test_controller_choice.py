"""Who drives a run's DaskCluster: the marks that betray another controller, the decision per
mode, and the claim that hands an untouched cluster to the embedded controller."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun.controller_choice import (
    CLAIM_GRACE,
    EMBEDDED_PREFIX,
    ControllerConflict,
    claim,
    decide,
    foreign_marks,
)
from daskrun.context import CONTROLLER_MODES, DEFAULT_CONTROLLER, BadControllerMode, from_flags
from daskrun.errors import ExitCode

# What the dask-kubernetes operator (kopf with its default settings) leaves on a DaskCluster.
OPERATOR_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
OPERATOR_ANNOTATION = "kopf.zalando.org/last-handled-configuration"


def cluster(annotations=None, finalizers=None, phase=None, version="1") -> dict:
    obj = {"metadata": {"name": "c", "resourceVersion": version, "annotations": annotations or {},
                        "finalizers": finalizers or []}}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


def test_a_fresh_cluster_has_no_marks():
    assert foreign_marks(cluster()) == []
    assert foreign_marks({"metadata": {}}) == []


def test_the_operators_finalizer_annotations_and_phase_are_marks():
    marks = foreign_marks(cluster({OPERATOR_ANNOTATION: "{}", "kopf.zalando.org/daskcluster_create": "{}"},
                                  [OPERATOR_FINALIZER], "Created"))
    assert marks == [f"finalizer {OPERATOR_FINALIZER}", "annotation kopf.zalando.org/daskcluster_create",
                     f"annotation {OPERATOR_ANNOTATION}", "status.phase=Created"]


def test_a_kopf_operator_with_another_prefix_is_seen_by_its_diffbase():
    assert foreign_marks(cluster({"example.com/last-handled-configuration": "{}"})) == [
        "annotation example.com/last-handled-configuration"]


def test_the_embedded_controllers_own_marks_and_deletion_finalizers_are_not():
    own = cluster({f"{EMBEDDED_PREFIX}/last-handled-configuration": "{}", f"{EMBEDDED_PREFIX}/x": "{}"},
                  [f"{EMBEDDED_PREFIX}/finalizer", "foregroundDeletion"])
    assert foreign_marks(own) == []


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}\.(io|com)/[a-z-]{1,12}", fullmatch=True), st.text(max_size=5)))
def test_plain_annotations_are_never_marks(annotations):
    annotations = {k: v for k, v in annotations.items() if not k.endswith("/last-handled-configuration")}
    assert foreign_marks(cluster(annotations)) == []


@given(st.sampled_from(["auto", "embedded"]), st.lists(st.text(min_size=1), max_size=3))
def test_every_decision_names_the_cluster(mode, marks):
    try:
        decision = decide(mode, marks, name="run-r1-abc", waited=0.25)
    except ControllerConflict as exc:
        assert mode == "embedded" and marks and "run-r1-abc" in str(exc)
        return
    assert "run-r1-abc" in decision.reason
    assert decision.driver == ("operator" if marks else "embedded")


def test_auto_yields_to_the_operator_and_says_why():
    decision = decide("auto", [f"finalizer {OPERATOR_FINALIZER}"], name="c", waited=0.2)
    assert decision.driver == "operator" and decision.resolved_mode == "external"
    assert decision.reason == (f"the dask-kubernetes operator installed in the cluster acted on DaskCluster c "
                               f"within 0.2s (finalizer {OPERATOR_FINALIZER})")


def test_auto_without_marks_runs_embedded():
    decision = decide("auto", [], name="c", waited=2.0)
    assert decision.driver == "embedded" and decision.resolved_mode == "embedded"
    assert "no dask operator acted on DaskCluster c within 2.0s" in decision.reason


def test_explicit_embedded_beside_an_operator_stops_naming_both_controllers():
    with pytest.raises(ControllerConflict) as caught:
        decide("embedded", ["status.phase=Created"], name="c", waited=0.3, identity="daskrun-c")
    message = str(caught.value)
    assert "this run's embedded controller (daskrun-c)" in message
    assert "another dask controller in the cluster" in message
    assert "set controller.mode to auto" in message
    assert caught.value.exit_code == ExitCode.CLUSTER_FAILED == 4


def test_external_mode_has_nothing_to_decide():
    with pytest.raises(ValueError):
        decide("external", [], name="c", waited=0)


def test_modes_and_the_default(monkeypatch):
    assert DEFAULT_CONTROLLER == "auto" and set(CONTROLLER_MODES) == {"auto", "embedded", "external"}
    monkeypatch.delenv("DASKRUN_CONTROLLER", raising=False)
    assert from_flags(namespace="ns").controller == "auto"
    monkeypatch.setenv("DASKRUN_CONTROLLER", "operator")
    with pytest.raises(BadControllerMode) as caught:
        from_flags(namespace="ns")
    assert str(caught.value) == ("DASKRUN_CONTROLLER: 'operator' is not a controller mode; "
                                 "use one of auto, embedded, external")
    assert caught.value.exit_code == ExitCode.BAD_CONFIG


class World:
    """A DaskCluster as the API server would serve it over time, on a virtual clock:
    `writes` maps a moment to what another controller writes then."""

    def __init__(self, writes: dict[float, dict] | None = None, ready_at: float = 0.0):
        self.now = 0.0
        self.obj = cluster()
        self.writes = sorted((writes or {}).items())
        self.ready_at = ready_at
        self.reads = 0
        self.labelled = False

    def _apply(self):
        while self.writes and self.writes[0][0] <= self.now:
            _, change = self.writes.pop(0)
            self.obj["metadata"]["finalizers"] += change.get("finalizers", [])
            self.obj["metadata"]["annotations"].update(change.get("annotations", {}))
            self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)

    def read(self):
        self.reads += 1
        self._apply()
        return {**self.obj, "metadata": dict(self.obj["metadata"])}

    def label(self, version):
        self._apply()
        if version != self.obj["metadata"]["resourceVersion"]:
            return False
        self.labelled = True
        return True

    def sleep(self, seconds):
        self.now += seconds

    def run(self, mode="auto"):
        return claim(mode, "c", self.read, self.label, lambda: self.now >= self.ready_at,
                     identity="daskrun-c", clock=lambda: self.now, sleep=self.sleep)


def test_claim_yields_to_an_operator_as_soon_as_it_marks_the_cluster():
    world = World({0.3: {"finalizers": [OPERATOR_FINALIZER]}}, ready_at=1.5)
    decision = world.run()
    assert decision.driver == "operator" and not world.labelled
    assert world.now == pytest.approx(0.3), "decided when the mark appeared, not after the grace"


def test_claim_labels_an_untouched_cluster_after_the_grace():
    world = World(ready_at=0.5)
    decision = world.run()
    assert decision.driver == "embedded" and world.labelled
    assert world.now == pytest.approx(CLAIM_GRACE)


def test_claim_waits_for_the_embedded_controller_to_watch():
    world = World(ready_at=CLAIM_GRACE + 1.0)
    assert world.run().driver == "embedded"
    assert world.now == pytest.approx(CLAIM_GRACE + 1.0)


def test_a_write_between_the_check_and_the_label_is_read_again():
    world = World()
    late = [(0.0, {"finalizers": [OPERATOR_FINALIZER]})]

    def label_as_the_operator_writes(version):
        world.writes, late[:] = late[:], []  # the operator's write lands just before our patch
        return world.label(version)

    decision = claim("auto", "c", world.read, label_as_the_operator_writes, lambda: True,
                     clock=lambda: world.now, sleep=world.sleep)
    assert decision.driver == "operator" and not world.labelled


def test_claim_in_embedded_mode_stops_beside_an_operator():
    world = World({0.2: {"annotations": {OPERATOR_ANNOTATION: "{}"}}})
    with pytest.raises(ControllerConflict, match="dask-kubernetes operator"):
        world.run("embedded")
    assert not world.labelled
