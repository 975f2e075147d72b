"""Schneider et al.: the patch detectors on whole images, the chapter's experiments on tiny
data, and every branch of the verdict's wording."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from adlib import detectors
from adlib.health import Health
from adlib.data import synthetic
from adlib.papers import schneider as S
from adlib.patches import grid_patches


def smooth(n, channels, height, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 5, 5, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


def fitted(name="schneider_cae", channels=1, size=48, **hparams):
    detector = detectors.get(name, channels=channels, seed=0, **{"patch": 16, **hparams})
    return detector.fit(smooth(4, channels, size, size), iterations=2, batch_size=4, progress=False)


# ---------------------------------------------------------------- the detectors

@pytest.mark.parametrize("name", list(S.DETECTORS.values()))
def test_whole_images_of_any_size_are_mapped_and_reconstructed(name):
    detector = fitted(name, channels=3)
    for height, width in [(48, 48), (40, 56), (12, 20)]:        # not on the grid, smaller than a patch
        images = smooth(2, 3, height, width, seed=1)
        prediction = detector.predict(images)
        assert prediction.maps.shape == (2, height, width) and (prediction.maps >= 0).all()
        assert detector.reconstruct(images).shape == (2, 3, height, width)
        rows, cols = -(-max(height, 16) // 16), -(-max(width, 16) // 16)
        assert detector.patch_errors(images).shape == (2, rows, cols)
    np.testing.assert_allclose(prediction.scores, detectors.smoothed_max(prediction.maps))


def test_maps_patch_errors_and_shares_agree_with_the_tiles():
    detector = fitted(size=32)
    images = smooth(2, 1, 32, 32, seed=2)
    tiles = grid_patches(images, 16, 16)
    expected = ((tiles - detector.network.reconstruct(tiles)) ** 2).mean(dim=(1, 2, 3)).double().numpy()
    np.testing.assert_allclose(detector.patch_errors(images).ravel(), expected, rtol=1e-5)
    reconstruction = detector.reconstruct(images)
    np.testing.assert_allclose(grid_patches(reconstruction, 16, 16), detector.network.reconstruct(tiles), atol=1e-6)
    masks = np.zeros((2, 32, 32), bool)
    masks[0, :8, :16] = True
    assert detector.patch_shares(masks)[0].tolist() == [[0.5, 0.0], [0.0, 0.0]]
    assert detector.scoring_stride == 8 and fitted(size=32, stride=4).scoring_stride == 4


def test_an_identity_network_gives_empty_maps():
    detector = fitted(size=32)
    detector.network.forward = lambda x: x
    assert detector.predict(smooth(2, 1, 40, 40)).maps.max() == 0


def test_history_losses_and_callback():
    seen = []
    detector = detectors.get("schneider_vae", channels=1, seed=0, patch=16)
    detector.fit(smooth(2, 1, 32, 32), iterations=4, batch_size=2, progress=False,
                 callback=lambda step, d: seen.append((step, d.reconstruct(smooth(1, 1, 16, 16)).shape)),
                 callback_every=2)
    assert [s for s, _ in seen] == [0, 2, 4] and seen[0][1] == (1, 1, 16, 16)
    assert len(detector.reconstruction_losses()) == 4
    assert detector.reconstruction_losses() == detector.history.series("mse")


def test_hyperparameters_are_checked_and_reach_the_network():
    with pytest.raises(ValueError, match="multiple of 16"):
        detectors.get("schneider_cae", patch=24)
    with pytest.raises(ValueError, match="variant"):
        detectors.get("schneider_cae", variant="natural")
    with pytest.raises(ValueError, match="stride"):
        detectors.get("schneider_cae", patch=16, stride=32)
    with pytest.raises(ValueError, match="unknown hyperparameter.*kl_weight"):
        detectors.get("schneider_cae", kl_weight=1.0)
    with pytest.raises(RuntimeError, match="fit"):
        detectors.get("schneider_cae").reconstruct(torch.rand(1, 1, 32, 32))
    aae = detectors.get("schneider_aae", patch=16, n_critic=2, clip=0.05, n_z=8).build_network()
    assert (aae.n_critic, aae.clip, aae.n_z) == (2, 0.05, 8)
    assert detectors.get("schneider_vae", patch=16, kl_weight=0.5).build_network().kl_weight == 0.5


def test_training_crops_start_on_the_crop_step_lattice():
    board = torch.from_numpy(synthetic.chess(n_normal=1, n_anomalous=1, size=64, square=8).normal)
    seen = []
    detector = detectors.get("schneider_cae", seed=0, patch=16, crop_step=8)
    original = detector._train

    def spy(network, batches, **kwargs):
        seen.append(batches(torch.Generator().manual_seed(0), 32))
        return original(network, batches, **kwargs)
    detector._train = spy
    detector.fit(board, iterations=1, batch_size=2, progress=False)
    # on the square lattice every crop shows the board in one of its two phases
    assert all(torch.equal(crop, seen[0][0]) or torch.equal(crop, 1 - seen[0][0]) for crop in seen[0])


# ---------------------------------------------------------------- experiments on tiny data

STRENGTHS = {"chess": 0.5, "noise": 0.35}


def test_calibrate_keeps_the_strength_closest_to_the_paper():
    chosen, table = S.calibrate(image_size=32, square=8, noise_std=0.08, grid={"chess": (0.1, 1.0), "noise": (0.05, 0.4)},
                                seeds=(5,))
    assert set(chosen) == {"chess", "noise"} and table.chosen.sum() == 2
    for name, rows in table.groupby("dataset"):
        gaps = (rows["reference IoU"] - S.paper_iou(name)).abs()
        assert rows.loc[gaps.idxmin(), "strength"] == chosen[name]
    assert table.loc[table.dataset == "noise", "reference IoU"].is_monotonic_increasing


def test_run_table1_compare_ratios_and_headline():
    sets = S.synthetic_sets(image_size=32, square=8, seed=0, strengths=STRENGTHS, noise_std=0.08)
    held = S.held_out_normals(32, 8, 0, strengths=STRENGTHS, noise_std=0.08)
    assert not np.array_equal(held["noise"], sets["noise"].normal)
    corners = held["chess"][:, 0, 0, 0] > 0.5            # both colourings, so "follows inputs" can be seen
    assert corners.any() and not corners.all() and len(held["chess"]) == 2 * len(held["noise"])
    result = S.run_table1(sets, ["CAE", "VAE", "AAE"], patch=16, square=8, iterations=2, batch_size=4,
                          lr=1e-3, seed=0, device="cpu", held_out=held, aae_adversarial_lr=1e-4)
    table = result.table
    assert set(result.health) == {(d, m) for d in ("chess", "noise") for m in ("CAE", "VAE", "AAE")}
    assert result.detectors["chess", "AAE"].network.adversarial_lr == 1e-4
    assert table.reference_IoU.between(0, 1).all()
    assert len(table) == 6 and set(table.dataset) == {"chess", "noise"}
    assert table[["A", "IoU"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table.train_seconds > 0).all()
    assert result.maps["chess", "AAE"].shape == (4, 32, 32)
    compared = S.compare_table1(table)
    assert compared["IoU (paper)"].notna().all()
    np.testing.assert_allclose(compared["ΔIoU"], compared["IoU"] - compared["IoU (paper)"])
    ratios = S.time_ratios(table)
    assert (ratios["CAE"] == 1).all()
    rows = S.headline(table)
    assert [r["what"].split(", ")[-1] for r in rows] == ["CAE", "VAE", "AAE"]
    assert rows[0]["published"] == pytest.approx((0.7975 + 0.7594) / 2)
    for figure in (S.figure_examples(sets), S.figure_losses(result), S.figure_masks(sets, result)):
        assert figure.axes
    assert S.threshold_slider("chess", sets["chess"], result.maps["chess", "CAE"], result.best["chess", "CAE"],
                              steps=2) is not None


def test_run_texture_and_its_figures():
    runs = [S.run_texture(name, size=64, patch=16, iterations=2, batch_size=4, lr=1e-3, seed=0, device="cpu",
                          snapshots=2) for name in ("brick", "gravel")]
    for r in runs:
        assert {"patch_auroc", "contrast_kept", "pixel_iou", "kind"} <= set(r.metrics)
        assert r.metrics["defective_patches"] == len(r.defect_errors) > 0
        assert [step for step, _ in r.snapshots] == [0, 2] and r.snapshots[0][1].shape == (1, 16, 16)
        assert 0 <= r.metrics["contrast_kept"] < 10
        assert r.health is not None and "error_ratio" in r.health.checks
    for figure in (S.figure_histograms(runs), S.figure_snapshots(runs), S.figure_failure(runs)):
        assert figure.axes


def test_run_real_on_a_tiny_mvtec_folder(tmp_path):
    cat = tmp_path / "widget"
    for sub in ("train/good", "test/good", "test/crack", "ground_truth/crack"):
        (cat / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = lambda: Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8))  # noqa: E731
    for i in range(6):
        image().save(cat / f"train/good/{i:03d}.png")
    for i in range(3):
        image().save(cat / f"test/good/{i:03d}.png")
        image().save(cat / f"test/crack/{i:03d}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[4:20, 4:20] = 255
        Image.fromarray(mask).save(cat / f"ground_truth/crack/{i:03d}_mask.png")
    r = S.run_real(cat, image_size=32, patch=16, iterations=2, batch_size=2, lr=1e-3, seed=0, device="cpu")
    assert r.name == "widget" and r.maps.shape == (6, 32, 32) and r.health.status
    for key in ("patch_auroc", "image_auroc", "image_ap", "f1_max", "image_auroc_max_patch", "pixel_auroc", "aupro"):
        assert 0 <= r.metrics[key] <= 1, key
    (record,) = S.mvtec_records([r])
    assert record["category"] == "widget" and record["aupro"] == r.metrics["aupro"]
    assert record["health"] == r.health.status
    assert S.figure_histograms([r]).axes


# ---------------------------------------------------------------- the verdict

def table(ious, seconds, sets=("chess", "noise"), reference=0.9):
    """ious / seconds: {model: value} (the same on every set) or {set: {model: value}}."""
    rows = []
    for name in sets:
        iou = ious.get(name, ious)
        time = seconds.get(name, seconds)
        rows += [{"dataset": name, "model": m, "IoU": iou[m], "train_seconds": time[m], "reference_IoU": reference}
                 for m in iou]
    return pd.DataFrame(rows)


EQUAL = {"CAE": 0.80, "VAE": 0.81, "AAE": 0.82}
ORDERED = {"CAE": 10.0, "VAE": 11.0, "AAE": 60.0}
TEXTURES = {"brick": {"patch_auroc": 0.9, "contrast_kept": 0.8}, "gravel": {"patch_auroc": 0.6, "contrast_kept": 0.2}}
HEALTHY = Health("healthy", {"tail_drop": 0.0, "spike": 0.0, "end_gap": 0.0, "drop": 1.0})
DIVERGED = Health("diverged", {"spike": 2.0, "end_gap": 1.0, "drop": 1.0}, ["training loss blew up"])


def test_verdict_claims_on_a_set_hold_and_do_not():
    lines = S.verdict(table({"chess": EQUAL, "noise": {"CAE": 0.60, "VAE": 0.70, "AAE": 0.75}}, ORDERED))
    assert lines[0].startswith("- **chess** (IoU CAE 0.800, VAE 0.810, AAE 0.820; reference IoU 0.900")
    assert "*All three localise* (IoU ≥ 75% of the reference, 0.675) holds." in lines[0]
    assert "The highest IoU is the AAE's, as in the paper — one seed without an interval" in lines[0]
    assert "does **not** hold: CAE below it." in lines[1]
    assert not any("nearly as good" in line for line in lines)             # decided by claims(), with its interval


def test_verdict_aae_not_best():
    line = S.verdict(table({"CAE": 0.85, "VAE": 0.81, "AAE": 0.82}, ORDERED))[0]
    assert "The highest IoU is the CAE's (the paper's: the AAE's)" in line


def test_verdict_inconclusive_when_a_model_of_the_set_is_not_healthy():
    healths = {(d, m): HEALTHY for d in ("chess", "noise") for m in ("CAE", "VAE", "AAE")}
    healths["chess", "AAE"] = DIVERGED
    lines = S.verdict(table(EQUAL, ORDERED), healths=healths)
    assert "are inconclusive (AAE on chess diverged)" in lines[0]
    assert "holds" not in lines[0] and "does **not**" not in lines[0]
    assert "inconclusive" not in lines[1] and "The highest IoU is the AAE's" in lines[1]


def test_verdict_training_cost_holds():
    line = S.verdict(table(EQUAL, ORDERED))[2]
    assert "the AAE took 6.0× the CAE's time on average (paper: 5.7×)" in line
    assert "*The CAE trains fastest* holds on every set; *the AAE trains slowest* holds on every set." in line


def test_verdict_training_cost_cae_not_fastest():
    line = S.verdict(table(EQUAL, {"chess": ORDERED, "noise": {"CAE": 12.0, "VAE": 10.0, "AAE": 60.0}}))[2]
    assert "*The CAE trains fastest* does **not** hold on noise; *the AAE trains slowest* holds on every set" in line
    assert "the VAE 1.0× (paper: 1.0×)" in line and "within 10% of the fastest or slowest time" in line


def test_verdict_training_cost_does_not_flip_with_timing_noise():
    # identical reruns differ by a few % in wall time: the same verdict either way
    claims = [S.verdict(table(EQUAL, {"CAE": cae, "VAE": 10.0, "AAE": 60.0}))[2].split("*The CAE")[1]
              for cae in (9.8, 10.4)]
    assert claims[0] == claims[1] and claims[0].startswith(" trains fastest* holds on every set")


def test_verdict_training_cost_aae_slowest_on_some_sets():
    line = S.verdict(table(EQUAL, {"chess": ORDERED, "noise": {"CAE": 10.0, "VAE": 70.0, "AAE": 60.0}}))[2]
    assert "*the AAE trains slowest* holds on chess only" in line


def test_verdict_training_cost_does_not_hold():
    line = S.verdict(table(EQUAL, {"CAE": 10.0, "VAE": 70.0, "AAE": 60.0}))[2]
    assert "*the AAE trains slowest* does **not** hold on any set" in line


def test_verdict_without_all_three_models():
    lines = S.verdict(table({"CAE": 0.8, "VAE": 0.8}, {"CAE": 1.0, "VAE": 1.0}))
    assert lines == ["- **Table 1**: the claims on the three models need the CAE, VAE and AAE; this run "
                     "trained only CAE and VAE."]


@pytest.mark.parametrize("gravel,expected", [
    ({"patch_auroc": 0.6, "contrast_kept": 0.2}, "The pattern the paper describes is seen"),
    ({"patch_auroc": 0.95, "contrast_kept": 0.2}, "is seen, but **not** the failure"),
    ({"patch_auroc": 0.6, "contrast_kept": 0.7}, "Defects are separated less well on gravel, but we do **not** see"),
    ({"patch_auroc": 0.95, "contrast_kept": 0.7}, "We see neither"),
])
def test_verdict_stochastic_texture_every_branch(gravel, expected):
    lines = S.verdict(table(EQUAL, ORDERED), {**TEXTURES, "gravel": gravel})
    assert len(lines) == 4 and lines[3].startswith("- **Stochastic texture**: patch AUROC ")
    assert expected in lines[3] and lines[3].endswith("a pattern, not a tested difference.")
    assert not any(word in lines[3] for word in ("holds", "reproduced", "partly"))     # the claims table decides


def test_verdict_texture_inconclusive_and_the_expected_collapse():
    collapsed = Health("collapsed", {**HEALTHY.checks, "spread_ratio": 0.02, "error_ratio": 0.99},
                       ["outputs barely follow inputs"])
    # gravel failing to beat the mean image is the claim itself: decided
    line = S.verdict(table(EQUAL, ORDERED), TEXTURES, texture_healths={"brick": HEALTHY, "gravel": collapsed})[3]
    assert "The pattern the paper describes is seen" in line
    line = S.verdict(table(EQUAL, ORDERED), TEXTURES, texture_healths={"brick": collapsed, "gravel": DIVERGED})[3]
    assert line == ("- **Stochastic texture**: inconclusive (CAE on brick collapsed; CAE on gravel (loss checks) diverged): the "
                    "claim needs a usable CAE on brick and a converged one on gravel.")


def test_health_text_names_the_unhealthy_models():
    records = [HEALTHY.record(dataset="chess", model="CAE", seed=0), DIVERGED.record(dataset="chess", model="AAE", seed=0)]
    text = S.health_text(records)
    assert text.startswith("1 of 2 models are not healthy: AAE on chess: **diverged** (training loss blew up)")
    assert S.health_text(records[:1]) == "All 1 models checked here are healthy."
    assert "seed" not in S.health_table(records).columns


def test_verdict_skips_the_texture_claim_without_both_textures():
    assert len(S.verdict(table(EQUAL, ORDERED), {"brick": TEXTURES["brick"]})) == 3
    assert len(S.verdict(table(EQUAL, ORDERED))) == 3


def test_published_table_is_plain_data():
    assert len(S.PUBLISHED["table1"]) == 6
    assert S.paper_time_ratio("AAE") == pytest.approx((1223 / 212 + 1227 / 216) / 2)
    assert list(S.published_table1().columns) == ["dataset", "model", "A", "IoU", "seconds"]
