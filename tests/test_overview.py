import json

from adlib import claims, overview


def test_results_page_shows_provenance_headline_and_verdict(tmp_path):
    (tmp_path / "demo.results.json").write_text(json.dumps({
        "headline": [{"what": "mean IoU", "published": 0.8, "ours": 0.75}],
        "verdict": ["- **claim**: holds."],
        "health": [{"dataset": "d", "model": "CAE", "seed": 0, "status": "healthy"},
                   {"dataset": "d", "model": "VAE", "seed": 0, "status": "collapsed"},
                   {"dataset": "d", "model": "k-NN", "seed": 0, "status": "not trained"}],
        "provenance": {"profile": "quick", "device": "cpu", "wall_seconds": 12.0,
                       "git_commit": "abcdef1234567", "finished_at": "2026-11-22T10:00:00Z"},
    }))
    page = overview.results_page(tmp_path)
    assert "{doc}`demo`" in page and "## demo" in page
    assert "| quick | cpu | 12 s | 1 of 2 | abcdef1234 | 2026-11-22 |" in page
    assert "**Not healthy**: VAE on d (seed 0): collapsed." in page
    assert "| mean IoU | 0.800 | 0.750 |" in page and "- **claim**: holds." in page


def test_results_page_without_runs(tmp_path):
    assert "No chapter has been executed yet" in overview.results_page(tmp_path)


def test_results_page_uses_chapter_title_and_verdict_dict(tmp_path):
    (tmp_path / "demo.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": "x = 1"},
        {"cell_type": "markdown", "source": ["Intro\n", "# Demo: a chapter\n"]}]}))
    (tmp_path / "demo.results.json").write_text(json.dumps({
        "verdict": {"count": 2, "lines": ["**holds** on 2 of 3", "- **speed**: 3x"]}}))
    page = overview.results_page(tmp_path)
    assert "## Demo: a chapter" in page
    assert "- **holds** on 2 of 3\n- **speed**: 3x" in page
    (tmp_path / "demo.results.json").write_text(json.dumps({"verdict": {"summary": "mixed"}}))
    assert "- mixed" in overview.results_page(tmp_path)


def test_results_page_follows_the_table_of_contents(tmp_path):
    generated = tmp_path / "book" / "generated"
    generated.mkdir(parents=True)
    (tmp_path / "_toc.yml").write_text("parts:\n  - chapters:\n      - file: book/generated/zeta\n"
                                       "      - file: book/generated/alpha\n")
    for name in ("alpha", "zeta", "other"):
        (generated / f"{name}.results.json").write_text(json.dumps({"verdict": [name]}))
    page = overview.results_page(generated)
    assert page.index("## zeta") < page.index("## alpha") < page.index("## other")


def test_results_page_puts_chapter_and_benchmark_numbers_of_one_detector_side_by_side(tmp_path):
    def write(name, results):
        (tmp_path / f"{name}.results.json").write_text(json.dumps(results))
    write("fadaeinejad_cae_pixels", {"pixel_auroc": 0.9, "provenance": {"parameters": {"image_size": 64, "lr": 0.005}}})
    records = [{"method": "CAE (Fadaeinejad)", "dataset": "hazelnut-like objects", "seed": s, "pixel_auroc": a,
                "health": "healthy"} for s, a in ((0, 0.7), (1, 0.8))]
    records.append({"method": "CAE (Fadaeinejad)", "dataset": "ELPV mono cells", "seed": 0, "pixel_auroc": None})
    write("benchmark_cross_paper", {"records": records, "methods": [{"detector": "fadaeinejad_cae", "settings": "lr=0.005"}],
                                    "provenance": {"parameters": {"image_size": 64, "iterations": 480}}})
    page = overview.results_page(tmp_path)
    assert "## Chapters and the benchmark" in page
    row = next(line for line in page.splitlines() if line.startswith("| `fadaeinejad_cae`"))
    assert "| 0.900 | 0.750 | −0.150 | healthy |" in row           # benchmark: mean over its two seeds
    assert "image_size 64, lr 0.005" in row and "image_size 64, iterations 480; lr=0.005" in row
    write("benchmark_cross_paper", {"records": []})               # nothing to compare: no section
    assert "## Chapters and the benchmark" not in overview.results_page(tmp_path)


def test_results_page_real_data_section_shows_our_rows_paper_and_outside_references(tmp_path):
    (tmp_path / "sae.results.json").write_text(json.dumps({"mvtec_metrics": [
        {"category": "bottle", "method": "Proposed", "image_auroc": 0.95, "image_ap": 0.98, "f1_max": 0.9,
         "pixel_auroc": 0.8, "aupro": 0.5, "health": "healthy", "published": 0.9971},
        {"category": "bottle", "method": "PatchCore", "source": "measured here", "image_auroc": 0.99,
         "health": "not trained"},
        {"category": "magnetic_tile", "method": "Proposed", "image_auroc": 0.7, "image_ap": 0.9, "f1_max": 0.8,
         "pixel_auroc": None, "aupro": None, "health": "under-trained", "published": None}]}))
    (tmp_path / "sou.results.json").write_text(json.dumps({"mvtec_metrics": [
        {"category": "bottle", "method": "VAE (Soukup), latent loss", "level": "patch (D vs V)",
         "patch_auroc": 0.6, "patch_ap": 0.55, "f1_max": 0.7, "health": "healthy"}]}))
    page = overview.results_page(tmp_path)
    section = page.split("## Real data (MVTec AD layout)")[1].split("\n## ")[0]
    bottle = section.split("### bottle")[1].split("###")[0]
    assert "| {doc}`sae` | Proposed | this run | image | 0.950 | 0.980 | 0.900 | 0.800 | 0.500 | healthy | 0.997 | −0.047 |" in bottle
    assert "| {doc}`sou` | VAE (Soukup), latent loss | this run | patch (D vs V) | 0.600 | 0.550 | 0.700 | – | – |" in bottle
    assert "| – | PatchCore (Wide ResNet-50) | quoted (anomalib) | image | 1.000 | – | – | 0.984 |" in bottle
    assert "| – | GANomaly | quoted (anomalib) | image | 0.251 |" in bottle
    assert "| {doc}`sae` | PatchCore | measured here | image | 0.990 |" in bottle
    tile = section.split("### magnetic_tile")[1]
    assert "under-trained" in tile and "quoted" not in tile     # not an MVTec AD category


def test_results_page_says_plainly_when_the_build_had_no_real_data(tmp_path):
    (tmp_path / "demo.results.json").write_text(json.dumps({"verdict": ["- x"]}))
    assert "**This build had no real data**" in overview.results_page(tmp_path)


def _write(tmp_path, chapter, results):
    (tmp_path / f"{chapter}.results.json").write_text(json.dumps(results))


def _bench_record(method, detector, dataset, auroc, status):
    return {"method": method, "detector": detector, "dataset": dataset, "image_auroc": auroc, "health": status}


def _exam_row(method, family, mean=None, interval=None, usable="2 of 2", differs=None):
    """A row of the benchmark's stored exam (adlib.papers.cross_paper.exam)."""
    status = "comparable" if mean is not None else f"not comparable ({usable.split()[2]} - {usable.split()[0]} bad)"
    return {"method": method, "family": family, "usable cells": usable, "mean image AUROC": mean,
            "interval": interval, "status": status, "differs from best": differs}


def test_the_overview_opens_with_the_verdict_table_and_the_cross_paper_answer(tmp_path):
    _write(tmp_path, "zhu_two_stage_rotnet", {
        "claims": [claims.judge("beats the CAE", claims.Data("MNIST", "MNIST", True), status="partly", ours=2.0,
                           models={"Two-stage": "healthy"}, interval=(0.5, 3.5), interval_method="bootstrap", published=4.7, unit="AUROC points"),
                   claims.judge("competitive", claims.Data("MNIST", "MNIST", True), models={"CAE": "collapsed"}, ours=90.0,
                           published=97.5, unit="AUROC %", no_interval="one seed"),
                   claims.judge("beats RotNet", claims.Data("MNIST", "mnist_subset", False), status="holds", ours=1.0,
                           models={"Two-stage": "healthy"}, interval=(0.2, 2.0), published=2.4, unit="AUROC points")],
        "provenance": {"profile": "quick", "device": "cpu", "wall_seconds": 600}})
    _write(tmp_path, "benchmark_cross_paper", {"records": [
        _bench_record("Deep-feature k-NN (baseline)", "deep_feature_knn", "a", 0.9, "not trained"),
        _bench_record("Deep-feature k-NN (baseline)", "deep_feature_knn", "b", 0.8, "not trained"),
        _bench_record("CAE (Schneider)", "schneider_cae", "a", 0.99, "collapsed"),      # not counted
        _bench_record("CAE (Schneider)", "schneider_cae", "b", 0.6, "healthy"),
        _bench_record("PCA residual (baseline)", "pca", "a", 0.7, "not trained")],
        "seeds": [0], "exam": [
            _exam_row("Deep-feature k-NN (baseline)", "memory bank / k-NN", 0.85, [0.8, 0.9]),
            _exam_row("CAE (Schneider)", "pixel-space autoencoder", 0.6, [0.5, 0.7], differs="yes"),
            _exam_row("VAE (Schneider)", "pixel-space autoencoder", usable="1 of 2")],
        "provenance": {"profile": "quick", "device": "cpu", "wall_seconds": 60}})
    page = overview.results_page(tmp_path)
    assert page.index("(verdict-table)=") < page.index("(cross-paper-answer)=") < page.index("## The runs of this build")
    assert "| {cite:t}`zhu2021` | beats the CAE | **partly** | 2.0 AUROC points [0.5, 3.5] | 4.7 | −2.7 |" in page
    assert "| beats RotNet | **untested** | 1.0 AUROC points [0.2, 2.0] | 2.4 | – |" in page   # no Δ: other data
    assert "(1 partly holds, 1 is inconclusive, 1 is untested)" in page and "CAE collapsed" in page
    assert "judged on mnist_subset, not the paper's MNIST" in page and "interval: bootstrap" in page
    assert "| Deep-feature k-NN (baseline) | memory bank / k-NN | 0.850 [0.800, 0.900] | 2 of 2 | – |" in page
    assert "| CAE (Schneider) | pixel-space autoencoder | 0.600 [0.500, 0.700] | 2 of 2 | yes |" in page
    assert "| VAE (Schneider) | pixel-space autoencoder | not comparable" in page
    assert "| PatchCore (Wide ResNet-50) | 0.980 | 0.980 | – |" in page       # quoted; not measured in this build
    assert "For scale only, quoted and on other data than this build's: PatchCore reaches 0.980" in overview.answer(tmp_path)
    assert "This build ran the `quick` profile on cpu in 11 minutes" in page and "1 of the 0" not in page
    answer = overview.answer(tmp_path)
    assert "of the papers' 3 main claims, 1 partly holds, 1 is inconclusive, 1 is untested" in answer
    assert "Deep-feature k-NN (baseline) (family: memory bank / k-NN), with mean image AUROC 0.850 [0.800, 0.900]" in answer
    assert "pixel-space autoencoder reaches 0.600 [0.500, 0.700] (CAE (Schneider))" in answer
    assert "{ref}`the verdict table <verdict-table>`" in answer
    assert "No chapter has been executed" in overview.answer(tmp_path / "none")


def test_a_measured_patchcore_replaces_the_quoted_one_in_the_answer_and_stands_beside_it(tmp_path):
    _write(tmp_path, "benchmark_cross_paper", {"records": [
        _bench_record("PatchCore", "patchcore", "a", 0.95, "not trained"),
        _bench_record("PatchCore", "patchcore", "b", 0.85, "not trained")],
        "exam": [_exam_row("PatchCore", "memory bank / k-NN", 0.9, [0.85, 0.95])],
        "provenance": {"profile": "quick", "device": "cpu", "wall_seconds": 60}})
    page = overview.results_page(tmp_path)
    assert "| PatchCore (Wide ResNet-50) | 0.980 | 0.980 | 0.900 [0.850, 0.950] (PatchCore) |" in page
    answer = overview.answer(tmp_path)
    assert "measured on the same data: 0.900 [0.850, 0.950]" in answer and "0.980" not in answer
