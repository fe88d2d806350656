"""Does the result go to S3? The chart asks one template (daskrun.outputIsS3), and its answer is
the runtime's Output.is_s3 for every output the runtime's config model accepts: NOTES.txt
tells the user S3 (at the runtime's own s3://bucket/key) exactly then, and an outputVolume is
refused exactly then (a local output renders, its claim mounted where the runtime writes).

The outputs are generated (any case of the scheme, with or without a bucket, credentials and
endpoint) and kept when the runtime accepts them; helm renders NOTES.txt for a batch of them
at once (a copy of the chart renders each into a ConfigMap)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chart_render import CHART, FULLNAME, KEY, SECRET_KEY, render_chart, render_error, run_container, run_job
from daskrun import output as runtime_output
from daskrun.config import ConfigError, Output, load_config
from daskrun.manifest import IMAGE_HOME

RUN = {"run": {"function": "pkg.mod.fn"}}
CLAIM = "results-pvc"
MADE_CLAIM = f"{FULLNAME}-output"  # daskrun.outputClaim with outputVolume.create

# Renders NOTES.txt (which `helm template` skips) and daskrun.outputIsS3 once for every case of
# cases.json: each case's values replace (maps: are merged into) the chart's values. The cases
# skip values.schema.json and daskrun.validate (an S3 output with a claim renders its NOTES
# here); the outputVolume tests below render each output as `helm install` would.
BATCH = """\
{{- range $i, $case := .Files.Get "cases.json" | fromJsonArray }}
{{- $values := deepCopy $.Values }}
{{- range $key, $value := $case }}
{{- if and (kindIs "map" $value) (kindIs "map" (index $values $key)) }}
{{- $_ := set $values $key (mergeOverwrite (index $values $key) $value) }}
{{- else }}
{{- $_ := set $values $key $value }}
{{- end }}
{{- end }}
{{- $root := dict "Values" $values "Release" $.Release "Chart" $.Chart "Capabilities" $.Capabilities "Template" $.Template "Files" $.Files }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: case-{{ $i }}
data:
  notes: {{ include "test.notes" $root | toJson }}
  isS3: {{ include "daskrun.outputIsS3" $root | quote }}
{{- end }}
"""


def render_cases(cases: list[dict]) -> list[tuple[str, str]]:
    """(NOTES.txt, daskrun.outputIsS3) of each case, from one `helm template`."""
    with tempfile.TemporaryDirectory() as directory:
        chart = Path(directory) / "daskrun"
        shutil.copytree(CHART, chart)
        notes = (chart / "templates" / "NOTES.txt").read_text()
        (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" }}' + notes + "{{- end }}")
        (chart / "templates" / "zz-cases.yaml").write_text(BATCH)
        (chart / "cases.json").write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
        objects = render_chart(chart=chart)
    rendered = {o["metadata"]["name"]: o["data"] for o in objects if o["metadata"]["name"].startswith("case-")}
    assert len(rendered) == len(cases)
    return [(rendered[f"case-{i}"]["notes"], rendered[f"case-{i}"]["isS3"]) for i in range(len(cases))]


def accepted(given_output: dict) -> Output | None:
    """The runtime's Output of `given_output`, None if the runtime refuses it."""
    try:
        return load_config({**RUN, "output": given_output}).output
    except ConfigError:
        return None


def destination(notes: str) -> str:
    """The line of NOTES.txt that says where the result goes."""
    lines = notes.splitlines()
    return lines[lines.index("It goes to:") + 1]


def check_notes(case: dict, notes: str, is_s3_template: str) -> None:
    stored = accepted(case["output"])
    assert stored is not None
    path = case["output"]["path"]
    volume = case.get("outputVolume", {})
    line = destination(notes)
    local_lines = (f"  {path} inside the run's pod, ", f"  {path} on the PersistentVolumeClaim ")
    says_local = line.startswith(local_lines)
    assert says_local != stored.is_s3, f"runtime is_s3={stored.is_s3}, the chart says {line!r} for {case}"
    assert is_s3_template == ("true" if stored.is_s3 else ""), case
    if stored.is_s3:
        assert line == "  " + runtime_output.location(stored), case  # the runtime's s3://bucket/key
    elif volume:
        claim = volume.get("existingClaim") or MADE_CLAIM
        assert line.startswith(f"  {path} on the PersistentVolumeClaim {claim}"), (line, case)
    else:
        assert line.startswith(f"  {path} inside the run's pod, "), (line, case)


# --- generated outputs ----------------------------------------------------------------------

# Path segments with the characters a YAML or template writer could trip on (': ', ' #', '{{').
NAME = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_. :#{}$é-]{0,11}\Z")
EXTENSION = st.sampled_from(["csv", "parquet"]).flatmap(
    lambda ext: st.lists(st.booleans(), min_size=len(ext), max_size=len(ext)).map(
        lambda upper: "".join(c.upper() if up else c for c, up in zip(ext, upper, strict=True))
    )
)
BUCKET = st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]\Z")
# The scheme as written: the runtime's, its other cases and near misses, or none.
SCHEME = st.one_of(
    st.just("s3://"),
    st.just(""),
    st.sampled_from(["S3://", "s3:/", "s3:", "S3:/", "s3//", " s3://", "s3:///", "s4://", "ss3://"]),
)
# S3's settings, half the time none (the runtime refuses any of them with a local path).
CREDENTIALS = st.one_of(
    st.just({}),
    st.sampled_from(
        [
            {"key": KEY, "secret_key": SECRET_KEY},
            {"endpoint_url": "http://minio:9000"},
            {"region": "eu-west-1"},
            {"key": KEY, "secret_key": SECRET_KEY, "endpoint_url": "https://s3.example.com", "region": "us-east-1"},
        ]
    ),
)


@st.composite
def outputs(draw) -> dict:
    scheme = draw(SCHEME)
    host = draw(BUCKET) + "/" if scheme else ""
    lead = draw(st.sampled_from(["", "", "/", "//"]))  # a key with leading slashes; an absolute file
    key = "/".join([*draw(st.lists(NAME, max_size=2)), f"{draw(NAME)}.{draw(EXTENSION)}"])
    given_output = {"path": scheme + host + lead + key}
    if draw(st.integers(0, 2)) == 0:
        given_output["bucket"] = draw(BUCKET)
    given_output.update(draw(CREDENTIALS))
    if draw(st.booleans()):
        given_output["report"] = draw(st.booleans())
    return given_output


VOLUMES = st.sampled_from([{}, {}, {"create": True}, {"existingClaim": CLAIM}])


@given(cases=st.lists(st.fixed_dictionaries({"output": outputs(), "outputVolume": VOLUMES}), min_size=1, max_size=8))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_notes_say_s3_exactly_when_the_runtime_stores_in_s3(cases):
    cases = [case for case in cases if accepted(case["output"]) is not None]
    assume(cases)
    for case, (notes, is_s3) in zip(cases, render_cases(cases), strict=True):
        check_notes(case, notes, is_s3)


def mounted_dir(path: str) -> str:
    """The directory the runtime writes a local `path` in (its working directory is IMAGE_HOME)."""
    return re.sub(r"^/+", "/", str(PurePosixPath(IMAGE_HOME, path).parent))


def check_output_volume(given_output: dict, volume: dict) -> None:
    stored = accepted(given_output)
    assert stored is not None
    values = {**RUN, "output": given_output, "outputVolume": volume}
    volume_key = "outputVolume.create" if volume.get("create") else "outputVolume.existingClaim"
    if stored.is_s3:
        assert f"{volume_key} is set but output goes to S3" in render_error(values), values
    elif mounted_dir(stored.path) == "/":
        assert "has no directory to mount the volume at" in render_error(values), values
    else:
        objects = render_chart(values)
        mounts = {m["name"]: m["mountPath"] for m in run_container(objects)["volumeMounts"]}
        assert mounts["output"] == mounted_dir(stored.path), values
        claims = {
            v["name"]: v.get("persistentVolumeClaim") for v in run_job(objects)["spec"]["template"]["spec"]["volumes"]
        }
        assert claims["output"] == {"claimName": volume.get("existingClaim") or MADE_CLAIM}


@given(given_output=outputs(), volume=st.sampled_from([{"create": True}, {"existingClaim": CLAIM}]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_output_volume_is_refused_exactly_for_an_s3_output(given_output, volume):
    assume(accepted(given_output) is not None)
    check_output_volume(given_output, volume)


# --- the tricky ones, always --------------------------------------------------------------------

# (output, whether the runtime stores it in S3)
TRICKY = [
    ({"path": "s3://bkt/k.csv"}, True),
    ({"path": "S3://bkt/k.csv"}, False),  # the runtime's scheme is lower case: a local file under S3:/bkt
    ({"path": "S3://bkt/k.csv", "bucket": "bkt"}, True),  # a key in bkt, spelled like a URL
    ({"path": "s3:/bkt/k.csv"}, False),
    ({"path": " s3://bkt/k.csv"}, False),
    ({"path": "s3://bkt//k.csv"}, True),  # the key "/k.csv"
    (
        {"path": "s3://bkt/dir/K.PARQUET", "key": KEY, "secret_key": SECRET_KEY, "endpoint_url": "http://minio:9000"},
        True,
    ),
    ({"path": "k.csv", "bucket": "bkt"}, True),
    ({"path": "/k.csv", "bucket": "bkt"}, True),
    ({"path": "//runs/k.csv", "bucket": "bkt"}, True),  # the runtime's key: runs/k.csv
    ({"path": "results/out.csv"}, False),
    ({"path": "/data/out.csv"}, False),
    ({"path": "a: b/c #d/out.csv"}, False),  # YAML syntax in a local path
]
TRICKY_OUTPUTS = [given_output for given_output, _ in TRICKY]
TRICKY_IDS = [f"{o['path']} in {o['bucket']}" if "bucket" in o else o["path"] for o in TRICKY_OUTPUTS]


@pytest.mark.parametrize(("given_output", "is_s3"), TRICKY, ids=TRICKY_IDS)
def test_tricky_outputs_are_accepted_by_the_runtime(given_output, is_s3):
    stored = accepted(given_output)
    assert stored is not None and stored.is_s3 is is_s3


def test_notes_of_tricky_outputs():
    cases = [{"output": o, "outputVolume": v} for o in TRICKY_OUTPUTS for v in ({}, {"create": True})]
    for case, (notes, is_s3) in zip(cases, render_cases(cases), strict=True):
        check_notes(case, notes, is_s3)


@pytest.mark.parametrize("given_output", TRICKY_OUTPUTS, ids=TRICKY_IDS)
def test_output_volume_with_tricky_outputs(given_output):
    check_output_volume(given_output, {"create": True})
