"""The run report as a person sees it: `<name>.report.html` of a real local run, opened in
headless Chromium with no network, renders Dask's task stream and worker profile without a
script error. Screenshots go to test-artifacts/ for a person to look at.

Without Chromium (`make browser`) or playwright these tests fail, never skip."""

import json
import os

import pytest
from PIL import ImageColor

from browser import BrowserMissing, chromium, open_file, pixels_of
from cli_runner import REPO, run_cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HERE = os.path.dirname(__file__)
ARTIFACTS = REPO / "test-artifacts"
# Each worker computes for 1.5 s: a worker's profile (distributed's get_profile) is empty
# until a profile cycle (1 s) completed since the report began, however busy the worker was.
BUSY = {
    "run": {"function": "sample_functions.report_load", "args": {"n": 4, "seconds": 0.75}},
    "dask_cluster": {"workers": 2},
    "output": {"path": "out/busy.csv"},
}
PAINTED = 0.005  # the least share of a plot's area its glyphs paint: a plot with data drawn

BOKEH_IDLE = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
# The figure a tab of the report holds, as Bokeh rendered it: whether the tab is the shown one
# and its plot has been drawn, where the plot is, and the fill colours of its glyphs' data
# (the task stream's placeholder rectangle is transparent: alpha 0).
FIGURE_OF_TAB = """(title) => {
  const tabs = Bokeh.documents[0].roots()[0];
  const index = tabs.tabs.findIndex((tab) => tab.title === title);
  const figure = tabs.tabs[index].child;
  const view = [...Bokeh.index.all_views()].find((v) => v.model === figure);
  if (view === undefined || tabs.active !== index || !view.has_finished()) return null;
  const box = view.el.getBoundingClientRect();
  const fills = figure.renderers.flatMap((renderer) => {
    const data = renderer.data_source.data;
    return Array.from(data.color ?? [], (color, i) => (data.alpha === undefined || data.alpha[i] > 0 ? color : null));
  });
  return {box: {x: box.x, y: box.y, width: box.width, height: box.height}, fills: fills.filter((c) => c !== null)};
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """report.html of one real local run on two workers."""
    folder = tmp_path_factory.mktemp("report-run")
    (folder / "config.json").write_text(json.dumps(BUSY))
    # The caller's PYTHONPATH too: the daskrun under test, not whichever one is installed.
    path = os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))
    result = run_cli("run", "config.json", "--local", "--progress-interval", "0", cwd=folder, env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "out" / "busy.report.html"


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as launched:
            yield launched
    except BrowserMissing as missing:
        pytest.fail(f"{missing}; the browser tests fail without it, they never skip")


def rendered(page, problems):
    """Wait for Bokeh to render the page; a report whose BokehJS never ran says why."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # Its scripts are plain <script> tags: once the page has loaded, BokehJS is there or never.
    if not page.evaluate("() => window.Bokeh !== undefined"):
        pytest.fail(f"the report has no BokehJS: {problems}")
    try:
        page.wait_for_function(BOKEH_IDLE, timeout=20_000)
    except PlaywrightTimeout:
        pytest.fail(f"Bokeh never rendered the report: {problems}")


def save(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def test_the_report_renders_offline_without_a_script_error(browser, report):
    page, problems = open_file(browser, report)
    rendered(page, problems)
    save(page, "report-summary.png")
    # Dask's template links a tab icon on docs.dask.org: an icon that cannot load breaks nothing.
    icon = page.evaluate("() => document.querySelector('link[rel~=icon]')?.href ?? ''")
    assert [url for url in problems.outside_requests if url != icon] == []
    assert problems.script_errors == []
    assert [(text, url) for text, url in problems.console_errors if url != icon] == []
    assert page.get_by_text("Dask Performance Report", exact=True).is_visible()


@pytest.mark.parametrize(
    ("tab", "screenshot"),
    [("Task Stream", "report-task-stream.png"), ("Worker Profile (compute)", "report-worker-profile.png")],
)
def test_a_tab_of_the_report_draws_the_runs_data(browser, report, tab, screenshot):
    page, problems = open_file(browser, report)
    rendered(page, problems)
    page.get_by_text(tab, exact=True).click()  # the tab Bokeh rendered, not a string in the source
    figure = page.wait_for_function(FIGURE_OF_TAB, arg=tab, timeout=10_000).json_value()
    save(page, screenshot)
    box = figure["box"]
    assert box["width"] > 400 and box["height"] > 300, figure
    fills = {ImageColor.getrgb(color)[:3] for color in figure["fills"]}
    assert fills, f"the {tab} plot has no data"
    painted = pixels_of(page.screenshot(clip=box), fills)
    assert painted > PAINTED * box["width"] * box["height"], f"{tab}: {painted} pixels of {sorted(fills)}"
    assert problems.script_errors == []
