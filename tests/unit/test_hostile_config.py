"""Hostile configs: every one is a clear exit 2 naming the key, never a crash, never a secret.

Properties (hypothesis): the chart schema and the model accept the same quantities; generated
config documents never crash `validate`; no credential value reaches a message; the
"running f(args)" log line stays bounded.
"""

import contextlib
import io
import json
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskrun import cli
from daskrun.config import MAX_WORKERS, ConfigError, config_json_schema, load_config, parse_config
from daskrun.config_messages import PIP_INDEX_KEYS
from daskrun.runner import MAX_ARGS_LINE, describe_args, run_dask_function
from daskrun.safe_yaml import MAX_BYTES, MAX_DEPTH, MAX_NODES
from daskrun.bootstrap import bootstrap_script

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIP_KEY = "dask_cluster.worker_config.setup.pip_packages[0]"


def base(**sections):
    return {"run": {"function": "pkg.mod.fn"}, **sections}


def worker(**worker_config):
    return base(dask_cluster={"worker_config": worker_config})


def setup(**keys):
    return worker(setup=keys)


def errors_of(config) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    return dict(info.value.errors)


HOSTILE = [
    # (config, key named, words the message holds)
    (base(dask_cluster={"workers": 0}), "dask_cluster.workers", "minimum: 0"),
    (base(dask_cluster={"workers": 10**6}), "dask_cluster.workers", f"<= {MAX_WORKERS}"),
    (base(dask_cluster={"workers": 2**70}), "dask_cluster.workers", "<="),
    (base(dask_cluster={"workers": {"minimum": 0, "maximum": 5000}}), "dask_cluster.workers.maximum", "<="),
    (base(dask_cluster={"workers": {"minimum": 2000, "maximum": 3000}}), "dask_cluster.workers.minimum", "<="),
    (worker(resources={"memory": "1e999999999"}), "dask_cluster.worker_config.resources.memory", "quantity"),
    (worker(resources={"memory": "1e100"}), "dask_cluster.worker_config.resources.memory", "two-digit"),
    (worker(resources={"memory": "9" * 400 + "Gi"}), "dask_cluster.worker_config.resources.memory", "characters"),
    (worker(resources={"memory": "0.0Mi"}), "dask_cluster.worker_config.resources.memory", "positive"),
    (worker(resources={"cpu": "0e5"}), "dask_cluster.worker_config.resources.cpu", "positive"),
    (worker(resources={"cpu": 1e300}), "dask_cluster.worker_config.resources.cpu", "1e+18"),
    (worker(resources={"cpu": float("inf")}), "dask_cluster.worker_config.resources.cpu", "positive"),
    (worker(resources={"cpu": float("nan")}), "dask_cluster.worker_config.resources.cpu", "positive"),
    (worker(resources={"cpu": 10**400}), "dask_cluster.worker_config.resources.cpu", "positive"),
    (worker(resources={"cpu": "1e-99"}), "dask_cluster.worker_config.resources.cpu", None),  # valid
    (worker(resources={"memory": 4}), "dask_cluster.worker_config.resources.memory", "less than 32Mi"),
    (worker(resources={"memory": "500m"}), "dask_cluster.worker_config.resources.memory", "thousandths"),
    (base(dask_cluster={"scheduler": {"resources": {"memory": "1Ki"}}}), "dask_cluster.scheduler.resources.memory",
     "write e.g. 4G"),
    (base(output={"path": "s3://bucket"}), "output.path", "s3://bucket/runs/result.csv"),
    (base(output={"path": "s3://bucket/"}), "output.path", "needs a bucket and a key"),
    (base(output={"path": "s3://bucket.csv"}), "output", "needs a bucket and a key"),
    (base(output={"path": "s3:///key.csv"}), "output", "needs a bucket and a key"),
    (base(output={"path": "s3://bucket/k"}), "output.path", "ending in .csv or .parquet"),
    (worker(nthreads=10**30), "dask_cluster.worker_config.nthreads", "<= 1024"),
    (base(dask_cluster={"wait_for_workers": {"timeout": 10**400}}), "dask_cluster.wait_for_workers.timeout",
     "<= 604800"),
    (base(output={"path": "s3://Bucket_1/k.csv"}), "output", "needs a bucket and a key"),
    (worker(image="daskrun:1; rm -rf /"), "dask_cluster.worker_config.image", "image reference"),
    (worker(image="daskrun latest"), "dask_cluster.worker_config.image", "image reference"),
    (worker(image="$(id)"), "dask_cluster.worker_config.image", "image reference"),
    (worker(image="Upper/Case:1"), "dask_cluster.worker_config.image", "lower-case"),
    (worker(image="--privileged"), "dask_cluster.worker_config.image", "image reference"),
    (worker(image="a" * 600), "dask_cluster.worker_config.image", "at most 512"),
    (setup(git_repository={"url": "https://x/r.git", "reference": "--orphan=evil"}),
     "dask_cluster.worker_config.setup.git_repository.reference", "option"),
    (setup(git_repository={"url": "https://x/r.git", "reference": "-b"}),
     "dask_cluster.worker_config.setup.git_repository.reference", "option"),
    (setup(git_repository={"url": "https://x/r.git", "reference": "main\n--orphan"}),
     "dask_cluster.worker_config.setup.git_repository.reference", "control"),
    (setup(git_repository={"url": "https://x/r.git", "reference": "a b"}),
     "dask_cluster.worker_config.setup.git_repository.reference", "whitespace"),
    (setup(git_repository={"url": "--upload-pack=touch /tmp/x"}),
     "dask_cluster.worker_config.setup.git_repository.url", "option"),
    (setup(git_repository={"url": "https://x/\x00"}), "dask_cluster.worker_config.setup.git_repository.url",
     "control"),
    (setup(pip_packages=["-e", "."]), PIP_KEY, "pip_index_url"),
    (setup(pip_packages=["--index-url=https://evil.example/simple"]), PIP_KEY, "options are not allowed"),
    (setup(pip_packages=[" -r /etc/passwd"]), PIP_KEY, "pip_extra_index_urls"),
    (setup(pip_packages=["-r/etc/passwd"]), PIP_KEY, "dask_cluster.worker_config.setup.pip_index_url"),
]
VALID = [case for case in HOSTILE if case[2] is None]
HOSTILE = [case for case in HOSTILE if case[2] is not None]


@pytest.mark.parametrize("config,key,words", HOSTILE, ids=[f"{i}-{c[1]}" for i, c in enumerate(HOSTILE)])
def test_hostile_value_is_refused_naming_the_key(config, key, words):
    errors = errors_of(config)
    assert key in errors, errors
    assert words.lower() in errors[key].lower(), errors[key]
    assert len(errors[key]) < 400, "a message quotes a bounded part of the value"


@pytest.mark.parametrize("config", [c for c, _, _ in VALID] + [
    base(dask_cluster={"workers": 1}),
    base(dask_cluster={"workers": MAX_WORKERS}),
    base(dask_cluster={"workers": {"minimum": 0, "maximum": MAX_WORKERS}}),
    worker(resources={"memory": "500Mi", "cpu": "250m"}),
    worker(resources={"memory": "1e9", "cpu": ".5"}),
    worker(resources={"memory": "32Mi", "cpu": 0.25}),
    worker(resources={"memory": 10**18, "cpu": 1e-9}),
    worker(image="ghcr.io/dask/dask:2026.8.0"),
    worker(image="localhost:5000/team/image@sha256:" + "a" * 64),
    worker(image="registry.example.com:443/a/b/c:v1.0-rc_1"),
    worker(image="daskrun"),
    setup(git_repository={"url": "https://example.com/r.git", "reference": "feature/x-1"}),
    setup(git_repository={"url": "/srv/my repos/r.git", "reference": "0123abcd"}),
    setup(pip_packages=["scikit-learn>=1.4", "pkg @ https://example.com/pkg-1.0.whl", "./local/dir"]),
    base(output={"path": "s3://bucket/k.csv"}),
    base(output={"path": "s3://my.bucket-1/runs/2026/r.PARQUET"}),
])
def test_legitimate_values_still_pass(config):
    parse_config(config)


def test_pip_message_names_the_index_keys_of_setup():
    message = errors_of(setup(pip_packages=["-e"]))[PIP_KEY]
    for key in PIP_INDEX_KEYS:
        assert f"dask_cluster.worker_config.setup.{key}" in message


def test_a_bypassed_reference_is_still_never_an_option():
    from daskrun.config import GitRepository, Setup

    sneaky = Setup.model_construct(git_repository=GitRepository.model_construct(
        url="https://x/r.git", reference="--orphan=x", install=None))
    with pytest.raises(ValueError, match="starts with '-'"):
        bootstrap_script(sneaky)


# --- the chart schema and the model agree on quantities ---------------------------------

def _quantity_schema_accepts(value) -> bool:
    document = {"run": {"function": "a.b"}, "dask_cluster": {"worker_config": {"resources": {"cpu": value}}}}
    return jsonschema.Draft202012Validator(config_json_schema()).is_valid(document)


def _model_accepts(value) -> bool:
    try:
        parse_config({"run": {"function": "a.b"}, "dask_cluster": {"worker_config": {"resources": {"cpu": value}}}})
    except ConfigError:
        return False
    return True


QUANTITY_TEXT = st.builds(
    lambda number, suffix: number + suffix,
    st.from_regex(r"\A[0-9]{0,25}(\.[0-9]{0,25})?\Z"),
    st.sampled_from(["", "Ki", "Mi", "Gi", "Ei", "m", "k", "G", "E", "n", "e3", "E-2", "e99", "e100", "e+7",
                     "e", "KiB", "gb", " ", "\n"]),
)
QUANTITIES = st.one_of(
    QUANTITY_TEXT,
    st.text(max_size=12),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(1e-12, 1e21),
)


@PROPERTY
@given(value=QUANTITIES)
def test_schema_and_model_accept_the_same_quantities(value):
    assert _quantity_schema_accepts(value) == _model_accepts(value), value


# --- generated documents never crash `validate` -----------------------------------------

KEYS = ["run", "function", "args", "dask_cluster", "workers", "minimum", "maximum", "worker_config",
        "resources", "memory", "cpu", "image", "env", "nthreads", "setup", "pip_packages", "apt_packages",
        "git_repository", "url", "reference", "install", "script", "scheduler", "output", "path", "bucket",
        "key", "secret_key", "endpoint_url", "region", "<<", "image", "rbac"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(["a.b", "pkg.mod:fn", "s3://b", "1e999", "-e", "--orphan", "&a", "*a", "~", "0x1F",
                     "2026-01-01", ".inf", "ghcr.io/x:1", "r.csv", "\u2028", "\x00"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=30,
)
RAW_YAML = st.text(st.sampled_from(list("{}[]:,-&*!|>'\"#%@` \n\tab01.eE<")), max_size=80)


def validate_in_process(text: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "values.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(["validate", str(path)])
    return code, out.getvalue()


@PROPERTY
@given(document=st.one_of(DOCUMENTS, st.fixed_dictionaries({"run": DOCUMENTS, "dask_cluster": DOCUMENTS,
                                                             "output": DOCUMENTS})))
def test_generated_documents_validate_or_exit_2(document):
    code, output = validate_in_process(yaml.safe_dump(document, allow_unicode=True))
    assert code in (0, 2), output
    assert "Traceback" not in output


@PROPERTY
@given(text=RAW_YAML)
def test_generated_yaml_text_validates_or_exits_2(text):
    code, output = validate_in_process(text)
    assert code in (0, 2), output


# --- credentials never appear in a message ----------------------------------------------

SECRET_VALUES = st.one_of(
    st.integers(10**7, 10**12), st.floats(1e7, 1e12), st.lists(st.integers(10**7, 10**9), min_size=1),
    st.dictionaries(st.sampled_from(["value", "ref"]), st.integers(10**7, 10**9), min_size=1),
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=10, max_size=20),
)


@PROPERTY
@given(key=SECRET_VALUES, secret=SECRET_VALUES, path=st.sampled_from(["r.txt", "s3://bkt/k.csv", "s3://b"]))
def test_no_credential_value_is_ever_in_a_message(key, secret, path):
    try:
        parse_config(base(output={"path": path, "key": key, "secret_key": secret, "region": 7}))
    except ConfigError as exc:
        message = str(exc)
    else:
        return  # both were strings and the rest was valid: nothing to report
    for value in (key, secret):
        for shown in {str(value), repr(value), json.dumps(value)}:
            assert shown not in message, message
        for part in (value if isinstance(value, list) else value.values() if isinstance(value, dict) else []):
            assert str(part) not in message, message


def test_numeric_secret_key_in_a_file_is_not_echoed(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("run: {function: a.b}\noutput: {path: s3://bkt/k.csv, key: AKIA, secret_key: 8675309123}\n")
    code, output = validate_in_process(path.read_text())
    assert code == 2 and "output.secret_key" in output and "8675309123" not in output


# --- YAML limits ------------------------------------------------------------------------

LAUGHS = "\n".join(
    [f'l0: &l0 ["{"lol" * 3}"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 8)]
    + ["run: {function: a.b, args: {x: *l7}}"]
)
YAML_CASES = [
    ("run:\n  function: a.b\n  function: c.d\n", "duplicate key 'function' (line 2 and line 3)"),
    ("run: {function: a.b, args: {x: 1, x: 2}}\n", "duplicate key 'x' (line 1 and line 1)"),
    ('{"run": {"function": "a.b"}, "run": {"function": "c.d"}}', "duplicate key 'run'"),
    ("run: {function: a.b}\n1: a\n1: b\n", "duplicate key '1'"),
    ("run: {function: a.b, args: {x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}}\n",
     f"nested more than {MAX_DEPTH} levels"),
    ("run: {function: a.b, args: {x: " + "[" * 100_000 + "]" * 100_000 + "}}\n", "nested more than"),
    (LAUGHS, f"more than {MAX_NODES}"),
    ("run: {function: a.b, args: {x: [" + "1, " * (MAX_NODES + 10) + "1]}}\n",
     f"more than {MAX_NODES} values (at line 1)"),
    ("a: &a [*a]\nrun: {function: a.b}\n", "cannot be recursive"),
    ("run: {function: a.b, args: {x: " + "9" * 5000 + "}}\n", "a number of more than 4000 digits"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("", "expected a mapping"),
    ("run: [\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,words", YAML_CASES, ids=[w for _, w in YAML_CASES])
def test_hostile_yaml_is_a_clear_exit_2(text, words):
    code, output = validate_in_process(text)
    assert code == 2 and words in output, output
    assert "Traceback" not in output


def test_merge_keys_are_not_duplicates():
    code, output = validate_in_process(
        "base: &base {function: a.b, args: {m: 1}}\nrun:\n  <<: *base\n  args: {m: 2}\n".replace("base:", "rbac:"))
    assert code == 0, output


def test_not_utf8_and_too_large_files_are_refused(tmp_path):
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"run: {function: a.b}\n\xff\xfe")
    large = tmp_path / "large.yaml"
    large.write_text("run: {function: a.b}\n#" + "x" * MAX_BYTES + "\n")
    for path, words in ((binary, "not UTF-8"), (large, f"larger than {MAX_BYTES} bytes")):
        out = io.StringIO()
        with contextlib.redirect_stderr(out):
            assert cli.main(["validate", str(path)]) == 2
        assert words in out.getvalue()


@pytest.mark.parametrize("source", [[{"run": {"function": "a.b"}}], None, 3, 2.5, b"run: x", object()])
def test_python_api_non_mapping_config_is_a_config_error(source):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(source)
    with pytest.raises(ConfigError, match="expected a mapping"):
        run_dask_function(source, local=True)


# --- the "running f(args)" line ---------------------------------------------------------

ARGS = st.recursive(
    st.one_of(st.integers(), st.floats(), st.text(), st.none(), st.binary()),
    lambda children: st.one_of(st.lists(children), st.dictionaries(st.text(), children)),
    max_leaves=50,
)


@PROPERTY
@given(args=st.dictionaries(st.text(), ARGS))
def test_args_line_is_bounded(args):
    assert len(describe_args(args)) <= MAX_ARGS_LINE + 40


def test_megabytes_of_args_log_a_short_line():
    line = describe_args({"inputs": list(range(10**6)), "text": "x" * 10**7, "k" * 10**5: 1})
    assert len(line) <= MAX_ARGS_LINE + 40 and line.startswith("inputs=[0, 1, 2")


def test_the_index_keys_named_in_the_pip_message_exist():
    from daskrun.config import Setup

    assert set(PIP_INDEX_KEYS) <= set(Setup.model_fields)


# issue 18: `fd::0` cloned forever (the clone waited on the launcher's stdin); `ext::` runs a command.
@pytest.mark.parametrize("url", ["fd::0", "fd::17", "FD::3/x", "ext::sh -c touch% /tmp/x", "ext::git %s"])
def test_a_git_transport_that_is_no_repository_is_refused_naming_the_key(url):
    with pytest.raises(ConfigError) as caught:
        load_config({"run": {"function": "a.b"},
                     "dask_cluster": {"worker_config": {"setup": {"git_repository": {"url": url}}}}})
    (key, message), = caught.value.errors
    assert key == "dask_cluster.worker_config.setup.git_repository.url"
    assert "transport" in message and "https://" in message


@pytest.mark.parametrize("url", ["https://git.example.com/me/r.git", "git@github.com:me/r.git", "/srv/repo",
                                 "codecommit::eu-west-1://repo", "file:///srv/repo"])
def test_other_git_urls_and_remote_helpers_pass(url):
    load_config({"run": {"function": "a.b"},
                 "dask_cluster": {"worker_config": {"setup": {"git_repository": {"url": url}}}}})
