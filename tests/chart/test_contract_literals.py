"""No template spells a name of the chart <-> runtime contract itself: environment variables,
daskrun.io/ names, the labels the runtime defines, the pod-setting keys and the exit codes
reach the templates only through chart/templates/_contract.tpl, and every contract define a
template includes is a constant the runtime has. So renaming a constant in the runtime
changes the chart (after `make schema`) or fails here, never leaves a stale copy behind.

The templates are read as text, not rendered: a name in a branch no test renders is caught
as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chart_render import CHART

from daskrun import chart_contract, dask_pods, run_labels

CONTRACT_FILE = CHART / chart_contract.FILE
INCLUDE = re.compile(r'include "daskrun\.contract\.([a-z_]+)\.([A-Za-z0-9_]+)"')
ENV_NAME = re.compile(r"\bDASKRUN_[A-Z0-9_]+")
DASKRUN_IO = re.compile(r"\bdaskrun\.io/[A-Za-z0-9_.-]+")
VALUES_KEY = re.compile(r"\.Values\.([A-Za-z_][A-Za-z0-9_]*)")


def templates() -> list[Path]:
    found = [p for p in (CHART / "templates").rglob("*") if p.is_file() and p != CONTRACT_FILE]
    assert found, "no templates found"
    return sorted(found)


def hits(pattern: re.Pattern[str]) -> list[str]:
    """`file:line: match` for every match of `pattern` in a template."""
    out = []
    for path in templates():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            out += [f"{path.relative_to(CHART)}:{number}: {m.group(0)}" for m in pattern.finditer(line)]
    return out


def contract_values() -> dict[str, str]:
    """Each contract value as text -> the define that holds it."""
    out = {}
    for module, names in chart_contract.CONTRACT.items():
        short = module.__name__.removeprefix("daskrun.")
        for name in names:
            out[str(getattr(module, name))] = f"daskrun.contract.{short}.{name}"
    return out


def runtime_labels() -> set[str]:
    """The label and annotation names daskrun.run_labels defines."""
    return {value for name, value in vars(run_labels).items() if name.endswith(("_LABEL", "_ANNOTATION"))}


def test_no_template_spells_an_environment_variable():
    """DASKRUN_* names are the runtime's (daskrun.context, daskrun.credentials)."""
    found = hits(ENV_NAME)
    assert not found, f"include the contract's define instead of {found}; defines: {contract_values()}"


def test_no_template_spells_a_daskrun_io_name():
    assert not hits(DASKRUN_IO), "add the name to daskrun.run_labels and daskrun.chart_contract, then `make schema`"


@pytest.mark.parametrize("label", sorted(runtime_labels()))
def test_no_template_spells_a_label_the_runtime_defines(label):
    found = hits(re.compile(re.escape(label) + r"(?![A-Za-z0-9_.-])"))
    assert not found, f"{found}: use {contract_values().get(label, 'a contract define (daskrun.chart_contract)')}"


def test_every_contract_define_a_template_includes_is_a_runtime_constant():
    modules = {m.__name__.removeprefix("daskrun."): names for m, names in chart_contract.CONTRACT.items()}
    included = {f"{module}.{name}" for path in templates() for module, name in INCLUDE.findall(path.read_text())}
    unknown = sorted(n for n in included if n.split(".")[1] not in modules.get(n.split(".")[0], ()))
    assert not unknown, f"the templates include defines that daskrun.chart_contract.CONTRACT lacks: {unknown}"


def test_every_contract_constant_is_used_by_a_template():
    """A constant the chart no longer needs is dropped from the contract, not left to drift."""
    text = "\n".join(path.read_text() for path in templates())
    unused = sorted(define for define in contract_values().values() if f'"{define}"' not in text)
    assert not unused, f"no template includes {unused}: remove them from daskrun.chart_contract.CONTRACT"


def test_no_template_lists_the_pod_setting_keys():
    """The keys go through daskrun.contract.dask_pods.POD_KEYS; quoting one (`list "nodeSelector" ...`)
    is a second list. `.Values.<key>` is reading one value, which the next test checks."""
    quoted = re.compile(r'"(' + "|".join(map(re.escape, dask_pods.POD_KEYS)) + r')"')
    assert not hits(quoted)


def test_every_top_level_value_a_template_reads_is_a_defined_key():
    """A pod-setting key the runtime renamed (or a typo) would read as empty, silently."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    used = {key for path in templates() for key in VALUES_KEY.findall(path.read_text())}
    assert set(dask_pods.POD_KEYS) <= set(schema["properties"])
    assert not used - set(schema["properties"]), "templates read undefined values keys"


def test_exit_codes_come_from_the_contract():
    """Every onExitCodes list of a template is daskrun.errors.FAIL_JOB_CODES, not numbers typed in."""
    lists = [
        match.group(1).strip()
        for path in templates()
        for match in re.finditer(r"onExitCodes:\n(?:[ \t]+.*\n)*?[ \t]+values: (.*)", path.read_text())
    ]
    assert lists, "no template has a podFailurePolicy onExitCodes list"
    assert set(lists) == {'{{ include "daskrun.contract.errors.FAIL_JOB_CODES" . }}'}, lists
