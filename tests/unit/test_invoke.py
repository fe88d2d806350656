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


# issue 18: messages about the function's path.
def test_a_dotted_path_to_a_static_method_resolves(tmp_path, monkeypatch):
    (tmp_path / "tasks_mod.py").write_text(
        "class Jobs:\n    @staticmethod\n    def run():\n        return 1\n    @classmethod\n    def again(cls):\n"
        "        return 2\n\ndef fünf():\n    return 5\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert invoke.resolve("tasks_mod.Jobs.run")() == 1
    assert invoke.resolve("tasks_mod.Jobs.again")() == 2
    assert invoke.resolve("tasks_mod:Jobs.run")() == 1
    assert invoke.resolve("tasks_mod.fünf")() == 5  # a valid unicode identifier
    with pytest.raises(invoke.AttributeMissing, match="'tasks_mod.Jobs' has no attribute 'nope'.*callables there: again, run"):
        invoke.resolve("tasks_mod.Jobs.nope")
    with pytest.raises(invoke.AttributeMissing,
                       match="there is no module 'tasks_mod.Job', and module 'tasks_mod' has no attribute 'Job'; "
                             "did you mean Jobs"):
        invoke.resolve("tasks_mod.Job.run")


@pytest.mark.parametrize("path", ["a." + "b" * 100_000, ".".join(["pkg"] * 25_000), "json." + "x" * 100_000])
def test_a_huge_function_path_gives_a_short_message(path):
    with pytest.raises(invoke.InvokeError) as caught:
        invoke.resolve(path)
    assert len(str(caught.value)) < 1_000 and "characters)" in str(caught.value)
