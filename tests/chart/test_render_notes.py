"""NOTES.txt: what `helm install` prints."""

from __future__ import annotations

import shutil

from chart_render import (
    CHART,
    NAMESPACE,
    RELEASE,
    render_chart,
    run_job,
)
from daskrun.manifest import IMAGE_HOME


def render_notes(tmp_path, values=None) -> str:
    """NOTES.txt as rendered for `helm install` (helm template skips it and Helm 3's
    install --dry-run needs a cluster): the copy of the chart renders it into a ConfigMap."""
    chart = tmp_path / "daskrun"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" }}' + notes + "{{- end }}")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include "test.notes" . | toJson }}\n'
    )
    objects = render_chart(values, chart=chart)
    return [o for o in objects if o["metadata"]["name"] == "notes"][0]["data"]["notes"]


def test_notes_name_the_next_commands(tmp_path):
    notes = render_notes(tmp_path)
    job = run_job(render_chart())["metadata"]["name"]
    assert f"kubectl logs -n {NAMESPACE} -f job/{job}" in notes
    assert f"helm upgrade -n {NAMESPACE} {RELEASE}" in notes
    assert f"helm uninstall -n {NAMESPACE} {RELEASE}" in notes
    assert f"helm test -n {NAMESPACE} {RELEASE}" in notes
    assert "port-forward" in notes
    assert "printed at the end of the log" in notes
    # Every attempt of a retried Job: `kubectl logs job/...` alone shows one pod's log.
    assert f"daskrun recover --job {job} -n {NAMESPACE} -o <file>" in notes
    assert f"daskrun status -n {NAMESPACE} {RELEASE}" in notes
    assert f"daskrun result -n {NAMESPACE} {RELEASE} -o <file>" in notes
    assert f"-l job-name={job} --sort-by=.metadata.creationTimestamp" in notes


def test_notes_say_where_the_result_goes(tmp_path):
    notes = render_notes(tmp_path, {"output": {"bucket": "bkt", "path": "runs/r.csv"}})
    assert "s3://bkt/runs/r.csv" in notes
    notes = render_notes(tmp_path / "2", {"output": {"path": "results/r.csv"}, "outputVolume": {"existingClaim": "pvc"}})
    assert "PersistentVolumeClaim pvc" in notes and f"{IMAGE_HOME}/results" in notes
