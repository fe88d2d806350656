"""One values file, one meaning (issue 18): every plain scalar read by `daskrun run --local`
(the local reader) is what the pod gets from `helm install -f` (the ConfigMap, read by the
same reader), or the local reader refuses it naming the key. The ConfigMap's file is JSON
(toPrettyJson), and a JSON reader gets from it exactly what the runtime's reader gets.

The property writes generated scalars into one values file per example and renders it with
the real Helm binary (3 and 4 through `make test-chart`)."""

from __future__ import annotations

import io
import json
import math
import re
import sys

import pytest
from chart_render import one, render_chart, render_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskrun import safe_yaml
from daskrun.config_file import read_config_file
from daskrun.errors import ConfigError

# Scalars the two YAML 1.1 readers (PyYAML's and go-yaml v2's) are known to disagree on, and
# their neighbours.
DISPUTED = [
    "y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False", "~", "null", "NULL",
    "1e3", "1E3", "5.", "-0.0", "1.0", "0.5", ".5", "-.5", "1e-7", "1.5e-7", "1e21", "1e15", "1e400", ".5e400",
    "0o10", "0O10", "010", "08", "09.5", "0x1F", "0X1f", "0b101", "-0x10", "+1", "+0", "1_000", "1__0", "_1",
    "1:20", "12:30:00", "-1:30", "2026-01-02", "2026-1-2", "2026-01-02T10:20:30Z", "2026-01-02 10:20:30",
    "9007199254740991", "-9007199254740991", "1.7976931348623157e308",
    "=", "<<x", ".", ".e5", "1e", "e5", "0x", "0o8", "1.2.3", "1,000", "0.1e-3", "6.02e+23", "-1e-400",
    ".0_0", ".5_5", "._5", ".5_", ".5__5", ".5e1_0", ".5e_1", "-.5_5",
]
REFUSED = ["9007199254740992", "9007199254740993", "-9007199254740993", "9223372036854775807", "18446744073709551616",
           "123456789012345678901234", "0x20000000000001", "1e20", "-9.9e20", ".inf", "-.Inf", ".nan"]


def _values_file(tmp_path, scalars):
    lines = ["run:", "  function: pkg.mod.fn", "  args:"]
    lines += [f"    a{index}: {text}" for index, text in enumerate(scalars)]
    path = tmp_path / "values.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _pod_args(values_path):
    text = one(render_chart(values_files=(values_path,)), "ConfigMap")["data"]["config.yaml"]
    pod = safe_yaml.load(text)
    as_json = json.loads(text)
    assert _same_tree(as_json, pod), f"read as JSON {as_json!r}, by the runtime {pod!r}"
    return pod["run"]["args"]


def _written_as_an_integer_from_1e21(text):
    try:
        return abs(int(text.replace("_", ""), 0)) >= 1e21
    except ValueError:
        return False


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _same_tree(a, b):
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_tree(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    return _same(a, b)


def _check_agree(tmp_path, scalars):
    path = _values_file(tmp_path, scalars)
    try:
        local = read_config_file(path)["run"]["args"]
    except ConfigError as exc:
        (key, message), = exc.errors
        assert key.startswith("run.args.a") and "quote it" in message, exc.errors
        # Helm refuses the same file: the chart names the key, or its JSON cannot hold the value.
        # From 1e21 on Helm passes a float, which no template can tell from one written so.
        if not _written_as_an_integer_from_1e21(scalars[int(key.removeprefix("run.args.a"))]):
            helm_says = render_error(values_files=(path,))
            if "unsupported value" not in helm_says:
                # Helm checks the keys in its own order: the key it names is refused here too.
                named = re.search(r"run\.args\.a(\d+): ", helm_says)
                assert named, helm_says
                with pytest.raises(ConfigError):
                    read_config_file(_values_file(tmp_path, [scalars[int(named.group(1))]]))
        return key
    pod = _pod_args(path)
    for index, text in enumerate(scalars):
        key = f"a{index}"
        assert _same(local[key], pod[key]), f"{text!r}: locally {local[key]!r}, in the pod {pod[key]!r}"
    return None


def test_the_disputed_scalars_mean_the_same_locally_and_in_the_pod(tmp_path):
    assert _check_agree(tmp_path, [text for text in DISPUTED]) is None


@pytest.mark.parametrize("text", REFUSED)
def test_what_helm_would_change_or_cannot_carry_is_refused_naming_the_key(tmp_path, text):
    assert _check_agree(tmp_path, ["1", text]) == "run.args.a1"


def test_a_number_helm_would_change_is_also_refused_by_helm_install(tmp_path):
    message = render_error(values_files=(_values_file(tmp_path, ["9007199254740993"]),))
    assert "run.args.a0: 9007199254740992 is an integer beyond 2^53 - 1" in message, message
    assert "quote it" in message


def test_the_largest_exact_integer_passes_both(tmp_path):
    assert _check_agree(tmp_path, ["9007199254740991", "-9007199254740991", "[9007199254740991]"]) is None


def test_a_key_helm_reads_as_a_boolean_is_refused_naming_it(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("run:\n  function: pkg.mod.fn\n  args:\n    on: 1\n")
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    assert info.value.errors == [
        ("run.args.on", "the key 'on' (line 4) is the key 'true' to Helm, which reads on as a boolean; "
                        'quote it ("on":) to keep the name')
    ]
    assert '"true": 1' in one(render_chart(values_files=(path,)), "ConfigMap")["data"]["config.yaml"]


@pytest.mark.parametrize("key", ["1", "true", "false", "-5"])
def test_a_plain_key_that_helm_keeps_as_written_is_that_string(tmp_path, key):
    path = tmp_path / "values.yaml"
    path.write_text(f"run:\n  function: pkg.mod.fn\n  args:\n    {key}: 1\n")
    assert read_config_file(path)["run"]["args"] == {key: 1} == _pod_args(path)


PLAIN = st.one_of(
    st.sampled_from(DISPUTED),
    st.from_regex(r"[-+]?[0-9_.]{1,12}([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.from_regex(r"0[xXoObB][0-9a-fA-F_]{1,8}", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}(:[0-9]{1,2}){1,2}", fullmatch=True),
    st.from_regex(r"[yYnNtTfFoO~.][a-zA-Z]{0,4}", fullmatch=True),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
# Only what YAML reads as one plain scalar on a `key: value` line.
SCALAR = PLAIN.filter(lambda text: text.strip() == text and text[:1] not in "-?:,[]{}#&*!|>'\"%@`"
                      or text.lstrip("-+")[:1].isdigit() or text[:2] == "-.")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(SCALAR, min_size=1, max_size=25))
def test_any_scalar_means_the_same_locally_and_in_the_pod_or_is_refused(tmp_path, scalars):
    _check_agree(tmp_path, scalars)


# `daskrun submit FILE` reads the file locally and gives Helm its values as JSON.
_RECORDING_HELM = r"""#!{python}
import json, shutil, sys
args = sys.argv[1:]
shutil.copy(args[args.index("--values") + 1], {copy!r})
print(json.dumps({{"name": args[2], "version": 1, "manifest": ""}}))
"""


def test_submit_gives_helm_what_helm_f_would(tmp_path, monkeypatch):
    from daskrun import submit

    path = _values_file(tmp_path, [text for text in DISPUTED])
    fake, copy = tmp_path / "helm", tmp_path / "submitted.json"
    fake.write_text(_RECORDING_HELM.format(python=sys.executable, copy=str(copy)))
    fake.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("DASKRUN_HELM", str(fake))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert submit.run_on_kubernetes(str(path), release="x", out=io.StringIO()) == 0
    by_file = one(render_chart(values_files=(path,)), "ConfigMap")["data"]["config.yaml"]
    by_submit = one(render_chart(values_files=(copy,)), "ConfigMap")["data"]["config.yaml"]
    # As the pod reads them (the text may differ: Go prints an underflow to -0 as "-0").
    assert safe_yaml.load(by_submit) == safe_yaml.load(by_file)
