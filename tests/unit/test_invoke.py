import pandas as pd
import pytest

from daskrun import invoke


def test_dotted_and_colon_paths_resolve():
    assert invoke.resolve("os.path.join") is __import__("os").path.join
    assert invoke.resolve("os.path:join") is __import__("os").path.join
    assert invoke.resolve("collections:OrderedDict.fromkeys")


def test_module_not_found():
    with pytest.raises(invoke.FunctionNotFound, match="module 'no_such_pkg' not found"):
        invoke.resolve("no_such_pkg.mod.fn")


def test_module_whose_import_fails(tmp_path, monkeypatch):
    (tmp_path / "broken_mod.py").write_text("import not_installed_dep\n")
    (tmp_path / "raising_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(invoke.FunctionNotFound, match="dependency 'not_installed_dep' is missing"):
        invoke.resolve("broken_mod.fn")
    with pytest.raises(invoke.FunctionNotFound, match="RuntimeError: boom at import"):
        invoke.resolve("raising_mod.fn")


def test_attribute_missing_lists_what_is_there():
    with pytest.raises(invoke.AttributeMissing, match="has no attribute 'nope'.*callables there"):
        invoke.resolve("json.nope")


def test_not_callable():
    with pytest.raises(invoke.NotCallable, match="is a str"):
        invoke.resolve("os.sep")


def test_bad_kwargs_name_the_signature():
    def fn(iterations, sample=None):
        return None

    with pytest.raises(invoke.BadArguments, match="unexpected keyword argument 'iteration'"):
        invoke.check_arguments(fn, {"iteration": 3}, "m.fn")
    with pytest.raises(invoke.BadArguments, match="missing a required argument: 'iterations'"):
        invoke.check_arguments(fn, {}, "m.fn")
    invoke.check_arguments(fn, {"iterations": 3}, "m.fn")


def test_result_must_be_a_dataframe():
    df = pd.DataFrame({"a": [1]})
    assert invoke.check_result(df, "m.f", True) is df
    assert invoke.check_result(None, "m.f", False) is None
    with pytest.raises(invoke.BadResult, match="returned None but `output` is configured"):
        invoke.check_result(None, "m.f", True)
    with pytest.raises(invoke.BadResult, match="returned builtins.list, expected a pandas.DataFrame"):
        invoke.check_result([1, 2], "m.f", False)
