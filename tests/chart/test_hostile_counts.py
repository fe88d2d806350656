"""README's hostile-input counts are the suites' own (issue 18): `make docs` writes them."""

from hostile_counts import BEGIN, END, REPO, with_counts


def test_readme_shows_the_counts_of_the_suites():
    readme = (REPO / "README.md").read_text()
    assert BEGIN in readme and END in readme
    assert with_counts(readme) == readme, "README's hostile counts are stale: run `make docs`"
