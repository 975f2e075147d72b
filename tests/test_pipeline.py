"""End to end: `make book PROFILE=smoke` in a copy of the repository.

Runs every chapter under the smoke profile, builds the book with -W, checks results.json,
that an unchanged second build re-executes nothing, and that bad parameters or a bad data
folder make `make book` fail with a message that names the fix.
"""

import json

import pytest
import yaml

from adlib.params import PROFILES
from conftest import CHAPTERS, ROOT, make

pytestmark = pytest.mark.slow


def test_every_chapter_executes_and_the_book_builds(built):
    repo, first = built
    html = repo / "_build" / "html"
    assert (html / "index.html").exists()
    for chapter in CHAPTERS:
        assert (repo / "book" / "generated" / f"{chapter}.ipynb").exists()
        assert (html / "book" / "generated" / f"{chapter}.html").exists(), chapter
        results = json.loads((repo / "book" / "generated" / f"{chapter}.results.json").read_text())
        prov = results["provenance"]
        assert prov["profile"] == "smoke" and prov["chapter"] == chapter
        assert prov["torch_version"] and prov["device"] and prov["datasets"]


def test_every_claim_states_its_data_interval_and_models(built):
    """The verdict table's evidence (adlib.claims): what the claim was judged on, an interval or
    the reason there is none, the models with their health or why none applies, and no Δ
    between different data."""
    repo, _ = built
    rows = [row for chapter in CHAPTERS for row in json.loads(
        (repo / "book" / "generated" / f"{chapter}.results.json").read_text()).get("claims", [])]
    assert len(rows) >= 10
    for row in rows:
        assert row["judged_on"] and isinstance(row["same_data_as_paper"], bool), row["claim"]
        assert row["interval"] is not None or row["no_interval"], row["claim"]
        assert row["models"] or row["no_models"], row["claim"]
        assert all(m["health"] for m in row["models"]), row["claim"]
        assert row["same_data_as_paper"] or row["delta"] is None, row["claim"]


def test_no_page_shows_an_unrendered_role(built):
    """A role inside a code span (e.g. `{glue:text}`x``) or a typo is printed verbatim."""
    repo, _ = built
    for page in (repo / "_build" / "html").rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text()
        for role in ("{glue:", "{doc}", "{cite", "{func}", "{mod}", "{class}", "{numref}"):
            assert role not in text, f"{page.relative_to(repo)} shows {role} verbatim"


def test_schneider_results_have_table1(built):
    repo, _ = built
    results = json.loads((repo / "book/generated/schneider_cae_vae_aae.results.json").read_text())
    rows = results["table1"]
    assert {(r["dataset"], r["model"]) for r in rows} == {
        (d, m) for d in ("chess", "noise") for m in ("CAE", "VAE", "AAE")}
    for row in rows:
        assert 0 <= row["A"] <= 1 and 0 <= row["IoU"] <= 1 and row["train_seconds"] > 0
    page = (repo / "_build/html/book/generated/schneider_cae_vae_aae.html").read_text()
    assert "application/vnd.jupyter.widget-view+json" in page or "widget-view" in page
    assert "Table 1" in page


def test_unchanged_rebuild_executes_nothing(built):
    repo, _ = built
    second = make(repo)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "adlib.execute" not in second.stdout


def test_unknown_parameter_fails_the_build(built, tmp_path):
    repo, _ = built
    params = repo / "notebooks/params/smoke/schneider_cae_vae_aae.yaml"
    original = params.read_text()
    try:
        params.write_text(original + "iteration: 5\n")
        result = make(repo)
    finally:
        params.write_text(original)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown parameter(s) 'iteration'" in output and "valid parameters" in output


def test_out_of_range_parameter_fails_the_build(built):
    repo, _ = built
    params = repo / "notebooks/params/smoke/schneider_cae_vae_aae.yaml"
    original = params.read_text()
    try:
        values = yaml.safe_load(original)
        values["patch_size"] = 8
        params.write_text(yaml.safe_dump(values))
        result = make(repo)
    finally:
        params.write_text(original)
    assert result.returncode != 0
    assert "patch_size" in result.stdout + result.stderr


def test_data_folder_without_layout_fails_naming_it(built, tmp_path):
    repo, _ = built
    empty = tmp_path / "not-mvtec"
    (empty / "something").mkdir(parents=True)
    result = make(repo, ADLIB_DATA=str(empty))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(empty) in output and "MVTec-layout" in output


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_profile_sets_only_known_parameters(chapter, profile):
    # the paper and real profiles are not executed here (GPU; real data and ~25 min): this at
    # least catches a stale name
    from adlib.execute import merged_parameters

    assert merged_parameters(chapter, profile)["seed"] >= 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_papermill_sees_every_parameter_of_every_chapter(chapter, tmp_path):
    """papermill's own inference (what --help-notebook lists and what its unknown-parameter
    warning checks against) finds exactly the names the parameters cell assigns."""
    import jupytext
    import nbformat
    import papermill

    from adlib.execute import notebook_defaults

    path = tmp_path / f"{chapter}.ipynb"
    nbformat.write(jupytext.read(ROOT / "notebooks" / f"{chapter}.py"), path)
    assert set(papermill.inspect_notebook(str(path))) == set(notebook_defaults(chapter))


def test_a_parameter_papermill_cannot_see_is_refused(tmp_path):
    from adlib.execute import notebook_defaults

    (tmp_path / "tiny.py").write_text('# %% tags=["parameters"]\nseed = 0\nmax_a, max_b = 1, 2\n')
    with pytest.raises(ValueError, match=r"tiny.py: the parameters cell assigns \['max_a', 'max_b'\] .*one `name = value` a line"):
        notebook_defaults("tiny", tmp_path)


def test_a_profile_setting_an_unknown_parameter_stops_before_running(tmp_path):
    from adlib.execute import execute

    (tmp_path / "params" / "quick").mkdir(parents=True)
    (tmp_path / "tiny.py").write_text('# %% tags=["parameters"]\nseed = 0\nprofile = "quick"\n')
    (tmp_path / "params" / "quick" / "tiny.yaml").write_text("sead: 1\n")
    with pytest.raises(ValueError, match=r"params/quick/tiny.yaml: unknown parameter\(s\) 'sead'; valid parameters: profile, seed"):
        execute("tiny", "quick", tmp_path / "out", notebooks=tmp_path)
    assert not (tmp_path / "out" / "tiny.ipynb").exists()
