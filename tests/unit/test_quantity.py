"""Kubernetes quantities and run names for any input (hypothesis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun.config import ConfigError, load_config
from daskrun.context import MAX_NAME, cluster_name
from daskrun.quantity import _QUANTITY, quantity_value

# Every suffix of Kubernetes' quantity grammar (a bare E is exa, not an exponent).
SUFFIXES = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
RFC1123_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


# From 1: zero is no quantity (resources are positive, and the pattern says so).
@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(SUFFIXES)))
def test_a_quantity_is_its_number_times_its_suffix(number, suffix):
    assert quantity_value(f"{number}{suffix}") == pytest.approx(number * SUFFIXES[suffix])


@pytest.mark.parametrize("memory", ["1E", "2E", "1.5E", "8Ei"])
def test_an_exa_quantity_is_a_memory_not_a_parse_error(memory):
    # `1E` was read as an exponent without digits: "invalid literal for int() with base 10: ''".
    worker = load_config({"run": {"function": "a.b"},
                          "dask_cluster": {"worker_config": {"resources": {"memory": memory}}}}).dask_cluster.worker_config
    assert worker.resources.memory_bytes == int(quantity_value(memory)) >= 10**18


@given(st.from_regex(_QUANTITY))
def test_every_quantity_the_pattern_takes_has_a_value_or_a_named_refusal(text):
    # The schema (this pattern) admits it, so the model must give a number or say what to write.
    try:
        load_config({"run": {"function": "a.b"}, "dask_cluster": {"worker_config": {"resources": {"memory": text}}}})
    except ConfigError as exc:
        (key, message), = exc.errors
        assert key == "dask_cluster.worker_config.resources.memory" and "write e.g." in message, exc.errors
    assert quantity_value(text) > 0


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=-3, max_value=9))
def test_exponent_quantities(number, exponent):
    assert quantity_value(f"{number}e{exponent}") == pytest.approx(number * 10.0**exponent)


@given(st.text(max_size=12).filter(lambda s: not re.fullmatch(r"[0-9.]+([a-zA-Z]{0,2}|[eE][+-]?[0-9]+)", s)))
def test_anything_else_is_refused_with_the_key_and_an_example(text):
    with pytest.raises(ConfigError) as info:
        load_config({"run": {"function": "pkg.fn"},
                     "dask_cluster": {"worker_config": {"resources": {"memory": text}}}})
    assert "dask_cluster.worker_config.resources.memory" in str(info.value)
    assert "4G, 500Mi, 2 or 0.5" in str(info.value)


@given(st.one_of(st.none(), st.text(max_size=120)), st.one_of(st.none(), st.integers(0, 10**6).map(str)))
def test_cluster_names_are_dns_labels_short_enough_for_derived_names(release, run_id):
    name = cluster_name(release, run_id)
    assert len(name) <= MAX_NAME and RFC1123_LABEL.match(name), name
