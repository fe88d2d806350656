"""Kubernetes quantities and run names for any input (hypothesis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun.config import ConfigError, load_config
from daskrun.context import MAX_NAME, cluster_name
from daskrun.quantity import quantity_value

SUFFIXES = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
            "Ti": 2**40}
RFC1123_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


# From 1: zero is no quantity (resources are positive, and the pattern says so).
@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(SUFFIXES)))
def test_a_quantity_is_its_number_times_its_suffix(number, suffix):
    assert quantity_value(f"{number}{suffix}") == pytest.approx(number * SUFFIXES[suffix])


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
