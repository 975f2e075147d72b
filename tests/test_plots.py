"""The shared figure helpers of adlib.plots."""

import numpy as np

from adlib import plots


def test_a_mask_overlay_is_an_outline_that_leaves_the_flaw_visible():
    image = np.full((1, 64, 64), 0.5, np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    rgb = plots.overlay(image, mask)
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3)
    assert red[20, 30] and red[39, 30] and not red[30, 30]          # the border, not the inside
    assert np.allclose(rgb[30, 30], 0.5) and not red[~mask].any()


def test_every_figure_fits_the_book_column_however_many_panels():
    """Wider figures are scaled down in the page, their text below 9 pt: each figure function
    wraps its panels or narrows its cells to stay within plots.COLUMN_INCHES."""
    from types import SimpleNamespace as Fake

    import matplotlib.pyplot as plt
    import pandas as pd

    from adlib.papers import cross_paper, fadaeinejad, saeedi, schneider, soukup, zhu, zhu_results

    plots.use_style()
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (1, 16, 16)).astype(np.float32)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    datasets = ["brick (regular texture)", "hazelnut-like objects", "ELPV mono cells", "MVTec AD carpet",
                "MVTec AD screw"]
    methods = ["RotNet (Zhu, stage 1 of the two-stage model)", "VAE (Soukup)"]
    auroc = pd.DataFrame(rng.uniform(0.3, 1, (2, 5)), index=methods, columns=datasets)
    ramp, fpr = np.linspace(1, 0.01, 50), np.linspace(0, 1, 20)
    names = ["chess", "noise", "carpet", "grid", "wood"]
    patch_runs = [Fake(name=n, metrics={"patch_auroc": 0.8}, normal_errors=rng.gamma(2, 1, 50),
                       defect_errors=rng.gamma(4, 1, 20)) for n in names]
    losses = Fake(detectors={(n, kind): Fake(reconstruction_losses=lambda: ramp)
                             for n in names for kind in ("CAE", "VAE")})
    scores = {n: {s: {loss: rng.gamma(3, 1, 40) for loss in soukup.LOSSES} for s in "TVD"} for n in names}
    panel = {key: np.stack([image] * 6) for key in ("input", "CAE", "Two-stage x̂₁")}
    one_class = Fake(records=[{"class": 0, "method": "CAE", "auroc": 0.9}], curves={0: {"CAE": (fpr, fpr ** 0.3)}},
                     panels={0: panel}, class_names=["T-shirt/top"])
    figures = {
        "samples_figure": lambda: plots.samples_figure("a long dataset title " * 5, [image] * 4, [image] * 6,
                                                       [mask] * 6),
        "image_grid": lambda: plots.image_grid([[image] * 12] * 2, ["a row"] * 2, ["a long column title"] * 12),
        "cross_paper.heatmap": lambda: cross_paper.heatmap(cross_paper.Summary(auroc, auroc, auroc), methods),
        "schneider.figure_losses": lambda: schneider.figure_losses(losses),
        "schneider.figure_histograms": lambda: schneider.figure_histograms(patch_runs),
        "zhu_results.plot_class_frame": lambda: zhu_results.plot_class_frame(one_class, 0),
        "saeedi.roc_figure": lambda: saeedi.roc_figure({n: {"Proposed": (fpr, fpr)} for n in names},
                                                       {n: {"Proposed": {"auc": 0.9}} for n in names}),
        "fadaeinejad.figure_per_image": lambda: fadaeinejad.figure_per_image({n: [0.5, 0.7] for n in names}),
        "soukup.histogram_figure": lambda: soukup.histogram_figure(scores, {n: 1e-3 for n in names}),
        "soukup.roc_figure": lambda: soukup.roc_figure(scores, {(n, loss): Fake(auroc=0.8) for n in names
                                                                 for loss in soukup.LOSSES}),
    }
    too_wide = {}
    for name, draw in figures.items():
        fig = draw()
        if fig.get_size_inches()[0] > plots.COLUMN_INCHES + 1e-9:
            too_wide[name] = round(float(fig.get_size_inches()[0]), 2)
        plt.close(fig)
    assert not too_wide, f"wider than the book's column ({plots.COLUMN_INCHES} in): {too_wide}"
