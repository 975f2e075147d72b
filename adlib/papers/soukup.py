"""Soukup & Pinetz (2018), the chapter ``soukup_latent_vae``: can a VAE's latent (KL) loss
replace its reconstruction loss for finding weaving flaws?

- :data:`PUBLISHED`: the paper's numbers (Table I, λ, the speed claim) as plain data;
- the experiments, run through the ``soukup_vae`` detector (:mod:`adlib.detectors.soukup`):
  the patch sets, the λ search (:func:`lambda_search`), per-patch scores
  (:func:`set_scores`), cross-entropies (:func:`cross_entropy`, :func:`table1`),
  AUROC / AP with bootstrap intervals (:func:`reliability`), AUROC per flaw kind;
- the chapter's figures (each returns a matplotlib Figure);
- :func:`verdict`: the verdict lines, worded from the numbers.

Scores of one model are ``{set: {loss: (N,) array}}`` with sets "T", "V", "D" (and "D_sel"
in the search) and losses "reconstruction" and "latent".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_curve

from adlib import detectors, health, params, plots, runtime
from adlib.claims import Data, decide, decide_parts, judge, paired_interval, percentile_interval, resamples
from adlib.data import folders, textile
from adlib.metrics import auroc_rows, auroc_text
from adlib.models.soukup import Reliability, bootstrap_auroc_ap, cross_entropy_table, gaussian_fit, separation
from adlib.models.soukup import shared_edges

LOSSES = ("reconstruction", "latent")
SET_COLOURS = {"T": "tab:blue", "V": "tab:green", "D": "tab:red"}

PUBLISHED = {
    # Table I: cross-entropy H(p, q) in bits between the loss histograms of T, V and D
    "table1": [
        {"paper pattern": "Pattern 1", "loss": "reconstruction", "H_TV": 0.67, "H_TD": 20.35, "H_VD": 20.30},
        {"paper pattern": "Pattern 1", "loss": "latent", "H_TV": 0.10, "H_TD": 7.64, "H_VD": 6.95},
        {"paper pattern": "Pattern 2", "loss": "reconstruction", "H_TV": 1.15, "H_TD": 19.70, "H_VD": 19.27},
        {"paper pattern": "Pattern 2", "loss": "latent", "H_TV": 0.17, "H_TD": 6.98, "H_VD": 9.38},
    ],
    "lambda": 1e-5,          # selected for both patterns
    "speedup": 2.0,          # "would speed up computations by more than a factor of 2"
    "iterations": 10_000,
    "patch": 64,
    "lr": 1e-3,
}


def _step(run: runtime.Run | None, label: str):
    return run.step(label) if run is not None else contextlib.nullcontext()


def published_table() -> pd.DataFrame:
    """Table I as published, one row per pattern and loss; value columns marked "(paper)"."""
    return pd.DataFrame(PUBLISHED["table1"]).rename(columns={c: f"{c} (paper)" for c in ("H_TV", "H_TD", "H_VD")})


# ------------------------------------------------------------------------------------ data

def load_patch_sets(patterns, data_root, *, patch_size: int, n_train: int, n_valid: int, n_defect: int,
                    n_select: int, web_size: int, n_flaws: int, pitch: float, real_scale: float,
                    real_max_images: int, seed: int, run: runtime.Run | None = None) -> dict:
    """T, V, D and D_sel of every generated pattern and of every MVTec-layout category under
    ``data_root`` (named ``mvtec:<category>``), recorded as datasets of ``run``."""
    sets = {}
    for name in patterns:
        with _step(run, "generate patch sets"):
            sets[name] = textile.textile_patch_sets(
                name, patch_size=patch_size, n_train=n_train, n_valid=n_valid, n_defect=n_defect,
                n_select=n_select, web_size=web_size, n_flaws=n_flaws, pitch=pitch, seed=seed)
    categories = folders.find_mvtec_categories(data_root) if data_root else []
    if data_root and not categories:
        raise folders.DataLayoutError(f"data_root {data_root} holds no MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT}")
    for folder in categories:
        with _step(run, f"read {folder.name}"):
            sets[f"mvtec:{folder.name}"] = textile.mvtec_patch_sets(
                folder, patch_size=patch_size, n_train=n_train, n_valid=n_valid, n_defect=n_defect,
                n_select=n_select, scale=real_scale, max_images=real_max_images, seed=seed)
    if run is not None:
        for name, s in sets.items():
            run.add_dataset(name, source=s.source, T=len(s.train), V=len(s.valid), D=len(s.defect),
                            D_sel=len(s.select), patch=patch_size,
                            checksum=runtime.array_checksum(s.train, s.valid, s.defect, s.select))
    return sets


def dataset_table(sets: dict) -> pd.DataFrame:
    return pd.DataFrame({n: {"T": len(s.train), "V": len(s.valid), "D": len(s.defect), "D_sel": len(s.select),
                             "source": s.source} for n, s in sets.items()}).T


# ------------------------------------------------------------------------------ experiments

def set_scores(detector, patch_sets, keys=("T", "V", "D")) -> dict[str, dict[str, np.ndarray]]:
    """Both per-patch losses of each of the sets ``keys`` ("T", "V", "D", "D_sel")."""
    data = {"T": patch_sets.train, "V": patch_sets.valid, "D": patch_sets.defect, "D_sel": patch_sets.select}
    return {key: detector.patch_losses(data[key]) for key in keys}


@dataclass
class Search:
    """The λ search: one fitted ``soukup_vae`` per (pattern, λ), its scores on T, V, D and D_sel,
    one table row per (pattern, λ), and the λ selected for each pattern."""

    detectors: dict
    scores: dict
    table: pd.DataFrame
    selected: dict[str, float]
    health: dict = None             # {(pattern, λ): Health} of every candidate, on V

    def health_table(self) -> pd.DataFrame:
        """The candidates' health status, one row per λ and a column per pattern."""
        return pd.DataFrame([{"pattern": n, "λ": lam, "status": h.status} for (n, lam), h in self.health.items()]
                            ).pivot(index="λ", columns="pattern", values="status")

    def separation_table(self) -> pd.DataFrame:
        return self.table.pivot(index="λ", columns="pattern", values="separation (V vs D_sel)")


def lambda_search(sets: dict, lambdas, *, seed: int, iterations: int, batch_size: int, device,
                  run: runtime.Run | None = None, **hyperparameters) -> Search:
    """Train one ``soukup_vae`` per pattern and λ (the same seed, so the same initial weights) and
    select, per pattern, the λ whose two losses separate V from D_sel best (mean AUROC).

    Every candidate gets a health check on V (:meth:`~adlib.detectors.base.Detector.health`):
    V holds defect-free patches never used for training, and no defect patch is used."""
    fitted, scores, rows, healths = {}, {}, [], {}
    for name, s in sets.items():
        for lam in lambdas:
            detector = detectors.get("soukup_vae", channels=s.train.shape[1], image_size=s.train.shape[-1],
                                     seed=seed, kl_weight=lam, **hyperparameters)
            with _step(run, f"train {name} λ={lam:g}"):
                detector.fit(s.train, iterations=iterations, batch_size=batch_size, device=device)
            with _step(run, f"score {name} λ={lam:g}"):
                scores[name, lam] = set_scores(detector, s, ("T", "V", "D", "D_sel"))
            fitted[name, lam] = detector
            healths[name, lam] = detector.health(s.valid)
            history = detector.history
            rows.append({"pattern": name, "λ": lam,
                         "separation (V vs D_sel)": separation(scores[name, lam]["V"], scores[name, lam]["D_sel"]),
                         "train s": history.seconds, "final L_rec": float(np.mean(history.series("rec")[-20:])),
                         "final L_lat": float(np.mean(history.series("kl")[-20:])),
                         "health": healths[name, lam].status})
    table = pd.DataFrame(rows)
    selected = {name: float(table[table.pattern == name].set_index("λ")["separation (V vs D_sel)"].idxmax())
                for name in sets}
    return Search(fitted, scores, table, selected, healths)


def cross_entropy(scores: dict, selected: dict, bins: int, epsilon: float) -> pd.DataFrame:
    """H(T,V), H(T,D), H(V,D) and the entropies H(T), H(V) per pattern and loss (their eq. 3)."""
    return pd.DataFrame([{"pattern": name, "loss": loss, "lambda": selected[name],
                          **cross_entropy_table({k: scores[name][k][loss] for k in ("T", "V", "D")},
                                                bins=bins, epsilon=epsilon)}
                         for name in scores for loss in LOSSES])


def table1(ce: pd.DataFrame) -> pd.DataFrame:
    """Our cross-entropies beside the published ones: the first two weaves stand beside the
    paper's Patterns 1 and 2 (other fabrics: compare the ordering, not the values)."""
    weaves = [n for n in ce.pattern.unique() if n in textile.WEAVES]
    paper_of = {n: f"Pattern {k + 1}" for k, n in enumerate(weaves[:2])}
    table = ce.assign(**{"paper pattern": ce.pattern.map(paper_of)})
    table = table.merge(published_table(), on=["paper pattern", "loss"], how="left")
    for col in ("TV", "TD", "VD"):
        table[f"Δ H_{col}"] = table[f"H_{col}"] - table[f"H_{col} (paper)"]
    return table[["pattern", "paper pattern", "loss", "H_TV", "H_TV (paper)", "Δ H_TV", "H_TD", "H_TD (paper)",
                  "Δ H_TD", "H_VD", "H_VD (paper)", "Δ H_VD"]]


def kl_table(ce: pd.DataFrame) -> pd.DataFrame:
    """The cross-entropies less the entropy of p: the Kullback-Leibler divergence D(p‖q) in bits."""
    return ce[["pattern", "loss"]].assign(**{"H(T,V) − H(T)": ce.H_TV - ce.H_T, "H(T,D) − H(T)": ce.H_TD - ce.H_T,
                                              "H(V,D) − H(V)": ce.H_VD - ce.H_V})


def headline(table: pd.DataFrame) -> list[dict]:
    """The results overview's rows: our H(T,D) beside the paper's, per loss, for the weaves
    placed beside their patterns."""
    return [{"what": f"H(T,D) bits, {row['loss']} loss ({row['pattern']}; paper: {row['paper pattern']})",
             "published": float(row["H_TD (paper)"]), "ours": float(row["H_TD"])}
            for row in table.dropna(subset=["H_TD (paper)"]).to_dict(orient="records")]


def reliability(scores: dict, n_boot: int, seed: int) -> dict[tuple[str, str], Reliability]:
    """AUROC and AP of each loss, D (positive) against V, with percentile bootstrap intervals."""
    return {(name, loss): bootstrap_auroc_ap(scores[name]["V"][loss], scores[name]["D"][loss],
                                             n_boot=n_boot, seed=seed)
            for name in scores for loss in LOSSES}


def reliability_table(rel: dict[tuple[str, str], Reliability]) -> pd.DataFrame:
    return pd.DataFrame([{"pattern": name, "loss": loss, "AUROC": auroc_text(r.auroc),
                          "AUROC 95% CI": f"[{r.auroc_ci[0]:.3f}, {r.auroc_ci[1]:.3f}]", "AP": r.ap,
                          "AP 95% CI": f"[{r.ap_ci[0]:.3f}, {r.ap_ci[1]:.3f}]", "F1-max": r.f1_max}
                         for (name, loss), r in rel.items()])


def mvtec_records(rel: dict[tuple[str, str], Reliability], healths: dict) -> list[dict]:
    """Patch-level metrics (D against V: AUROC, AP, F1-max, :mod:`adlib.metrics`) of each score
    on the real MVTec-layout categories (patterns ``mvtec:<name>``). The chapter scores patches,
    not images, and makes no map: no image or pixel metric, so no row is comparable with an
    MVTec AD table's image AUROC."""
    return [{"category": name.removeprefix("mvtec:"), "method": f"VAE (Soukup), {loss} loss",
             "level": "patch (D vs V)", "patch_auroc": r.auroc, "patch_ap": r.ap, "f1_max": r.f1_max,
             "health": healths[name].status if name in healths else "not recorded"}
            for (name, loss), r in rel.items() if name.startswith("mvtec:")]


def reliability_results(rel: dict[tuple[str, str], Reliability]) -> dict[str, dict]:
    """results.json's ``auroc``, ``average_precision`` and their ``_ci``: {pattern: {loss: ...}}."""
    out: dict[str, dict] = {"auroc": {}, "average_precision": {}, "auroc_ci": {}, "average_precision_ci": {},
                            "f1_max": {}}
    for (name, loss), r in rel.items():
        for key, value in (("auroc", r.auroc), ("average_precision", r.ap), ("auroc_ci", list(r.auroc_ci)),
                           ("average_precision_ci", list(r.ap_ci)), ("f1_max", r.f1_max)):
            out[key].setdefault(name, {})[loss] = value
    return out


def auroc_by_flaw(sets: dict, scores: dict) -> pd.DataFrame:
    """AUROC of each loss for the D patches of one flaw kind against V (kinds with >= 2 patches)."""
    rows = []
    for name in scores:
        kinds = np.array(sets[name].defect_kinds)
        for kind in sorted(set(kinds)):
            chosen = kinds == kind
            if chosen.sum() < 2:       # one patch's "AUROC" is only its rank among the V patches: a floor, not tuned
                continue
            rows.append({"pattern": name, "flaw": kind, "D patches": int(chosen.sum()),
                         **{f"AUROC {loss}": bootstrap_auroc_ap(scores[name]["V"][loss],
                                                                scores[name]["D"][loss][chosen], n_boot=0).auroc
                            for loss in LOSSES}})
    return pd.DataFrame(rows)


def by_flaw_table(by_flaw: pd.DataFrame) -> pd.DataFrame:
    """:func:`auroc_by_flaw` for the page: AUROCs below 0.5 labelled inverted, 1 − AUROC beside."""
    return by_flaw.assign(**{f"AUROC {loss}": by_flaw[f"AUROC {loss}"].map(auroc_text) for loss in LOSSES})


def table1_interval_table(intervals: pd.DataFrame, split: dict[str, bool]) -> pd.DataFrame:
    """The Table I tolerance for the page: H(reconstruction) − H(latent), its interval, the case's
    outcome (tie when the interval contains 0) and whether the pattern is split-driven."""
    outcome = np.where(intervals.low > 0, "reconstruction larger", np.where(intervals.high < 0, "latent larger", "tie"))
    return intervals.assign(**{"95% interval": [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(intervals.low, intervals.high)],
                               "outcome": outcome, "split-driven": intervals.pattern.map(split)}
                            )[["pattern", "column", "difference", "95% interval", "outcome", "split-driven"]]


def latent_ratio(scores: dict) -> dict[str, float]:
    """Mean latent loss of D over that of V, per pattern (the paper: above 1)."""
    return {name: float(np.mean(s["D"]["latent"]) / np.mean(s["V"]["latent"])) for name, s in scores.items()}


def gaussian_fits(scores: dict) -> list[dict]:
    """Normal fits (mean, std) of the log10 losses of T, V and D (the curves of their Figs 2-3)."""
    return [{"pattern": name, "loss": loss, "set": key,
             **dict(zip(("mean_log10", "std_log10"), gaussian_fit(np.log10(np.maximum(s[key][loss], 1e-12)))))}
            for name, s in scores.items() for loss in LOSSES for key in ("T", "V", "D")]


def timing_table(timing: dict) -> pd.DataFrame:
    return pd.DataFrame([{"scoring": "encoder only (latent loss)", "median ms per batch": 1000 * timing["encoder"]},
                         {"scoring": "full autoencoder (reconstruction loss)",
                          "median ms per batch": 1000 * timing["full"]}])


# ------------------------------------------------------------------------------------ figures

def data_figure(sets: dict):
    """A web with flaws, its masks, and example T, V and D patches of each pattern (their Fig 1)."""
    rows = []
    for s in sets.values():
        web = s.examples.get("web")
        row = [] if web is None else [web, plots.overlay(web, s.examples["mask"])]
        second = 1 % len(s.defect)
        row += [s.train[0, 0], s.valid[0, 0], plots.overlay(s.defect[0, 0], s.defect_masks[0], 0.35),
                plots.overlay(s.defect[second, 0], s.defect_masks[second], 0.35)]
        rows.append(row)
    return plots.image_grid(rows, row_labels=list(sets), cell=2.0,
                            col_labels=["web with flaws", "flaw masks", "T patch", "V patch", "D patch", "D patch"])


def training_figure(final: dict, selected: dict, search_iterations: int):
    """Rolling means of both training losses of each pattern's final detector; a dotted line
    where the search's models stopped."""
    fig, axes = plt.subplots(1, 2, figsize=(plots.COLUMN_INCHES, 3.4))
    for name, detector in final.items():
        for ax, key in zip(axes, ("rec", "kl")):
            ax.plot(pd.Series(detector.history.series(key)).rolling(20, min_periods=1).mean(),
                    label=f"{name} (λ={selected[name]:g})")
    for ax, what in zip(axes, ("L_{rec}", "L_{lat}")):
        if len(next(iter(final.values())).history.losses) > search_iterations:
            ax.axvline(search_iterations, color="grey", ls=":", lw=1)
        ax.set(xlabel="iteration", ylabel=f"${what}$ per patch\n(rolling mean of 20)", yscale="log")
    axes[0].legend()
    fig.tight_layout()
    return fig


def reconstruction_figure(sets: dict, final: dict):
    """A V patch and a D patch of each pattern, their reconstructions and squared residuals."""
    rows = []
    for name, detector in final.items():
        s = sets[name]
        v, d = s.valid[:1], s.defect[:1]
        rv, rd = detector.reconstruct(v)[0], detector.reconstruct(d)[0]
        rows.append([v[0], rv, ((v[0] - rv) ** 2)[0], plots.overlay(d[0], s.defect_masks[0], 0.3), rd,
                     ((d[0] - rd) ** 2)[0]])
    return plots.image_grid(rows, row_labels=list(final),
                            col_labels=["V patch", "reconstruction", "residual²", "D patch (flaw red)",
                                        "reconstruction", "residual²"],
                            cmaps=["gray", "gray", "magma", "gray", "gray", "magma"],
                            # display choice: residual² saturates at 0.25 (an error of half the intensity range)
                            # so that the small residuals of a good reconstruction stay visible
                            vmax=[1, 1, 0.25, 1, 1, 0.25], cell=1.9)


def histogram_figure(scores: dict, lam_of: dict, title_suffix: str = ""):
    """Histograms of the log10 losses of T, V and D per pattern (rows) and loss (columns), each with
    its maximum-likelihood Gaussian (their Figs 2-3); ``scores`` is {pattern: {set: {loss: ...}}}."""
    fig, axes = plt.subplots(len(scores), 2, figsize=(plots.COLUMN_INCHES, 3.0 * len(scores)), squeeze=False)
    for row, name in zip(axes, scores):
        for ax, loss in zip(row, LOSSES):
            logs = {k: np.log10(np.maximum(scores[name][k][loss], 1e-12)) for k in ("T", "V", "D")}
            edges = shared_edges(list(logs.values()), 40)
            grid = np.linspace(edges[0], edges[-1], 300)
            for key, data in logs.items():
                ax.hist(data, bins=edges, density=True, alpha=0.45, color=SET_COLOURS[key], histtype="stepfilled",
                        label=f"{key} ({len(data)})")
                mu, sigma = gaussian_fit(data)
                ax.plot(grid, stats.norm.pdf(grid, mu, max(sigma, 1e-9)), color=SET_COLOURS[key], lw=1.5)
            ax.set(title=plots.wrap(f"{name}, {loss} loss (λ={lam_of[name]:g}){title_suffix}", 3.1, 11),
                   xlabel="log10 loss per patch", ylabel="density")
            ax.set_ylim(top=1.35 * ax.get_ylim()[1])     # headroom: the legend above the bars, not on them
        row[0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def lambda_frame(search: Search, lam: float):
    """One frame of the λ slider: the search's histograms at ``lam`` and a caption (HTML)."""
    names = list(search.selected)
    fig = histogram_figure({name: search.scores[name, lam] for name in names}, {name: lam for name in names},
                           " (search)")
    parts = [f"{name}: separation {separation(search.scores[name, lam]['V'], search.scores[name, lam]['D_sel']):.3f}"
             + (" (selected)" if np.isclose(search.selected[name], lam) else "") for name in names]
    return fig, f"<b>λ = {lam:g}</b> — " + "; ".join(parts)


def paper_lambda_index(lambdas) -> int:
    """Index of the grid value closest (in decades) to the paper's λ."""
    return int(np.argmin([abs(np.log10(max(v, 1e-30)) - np.log10(PUBLISHED["lambda"])) for v in lambdas]))


def roc_figure(scores: dict, rel: dict):
    """ROC curves of both losses, D against V, one panel per pattern; AUROC in the legend."""
    fig, axes = plots.panel_grid(len(scores), 3.4, 3.4)
    for ax, name in zip(axes, scores):
        for loss, style in zip(LOSSES, ("-", "--")):
            v, d = scores[name]["V"][loss], scores[name]["D"][loss]
            fpr, tpr, _ = roc_curve(np.r_[np.zeros(len(v)), np.ones(len(d))], np.r_[v, d])
            auroc = rel[name, loss].auroc
            ax.plot(fpr, tpr, style, label=f"{loss} ({auroc:.3f}{', inverted' if auroc < 0.5 else ''})")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(title=name, xlabel="false positive rate (V)", ylabel="true positive rate (D)")
        ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ health

def final_health(search: Search, final: dict, sets: dict) -> dict:
    """{pattern: Health} of each selected final model, on V; the search's own check where the
    final model is the search's model."""
    return {name: (search.health[name, search.selected[name]] if detector is search.detectors.get((name, search.selected[name]))
                   else detector.health(sets[name].valid)) for name, detector in final.items()}


def record_health(run: runtime.Run, search: Search, final: dict, healths: dict) -> None:
    """Store one health record per trained model: every λ-search candidate and every final
    model (a final model that is a search candidate is recorded once, as final)."""
    for (name, lam), h in search.health.items():
        if search.detectors[name, lam] is not final.get(name):
            run.add_health(h, dataset=name, model=f"soukup_vae λ={lam:g} (search)", seed=final[name].seed)
    for name, h in healths.items():
        run.add_health(h, dataset=name, model=f"soukup_vae λ={search.selected[name]:g} (final)", seed=final[name].seed)


# ------------------------------------------------------------------------------ tolerances

def latent_ratio_ci(scores: dict, n_boot: int, seed: int, level: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """{pattern: (ratio, low, high)}: the mean latent loss of D over that of V with a percentile
    bootstrap interval (V and D resampled separately)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, s in scores.items():
        v, d = np.asarray(s["V"]["latent"]), np.asarray(s["D"]["latent"])
        ratio = float(d.mean() / v.mean())
        boots = [rng.choice(d, d.size).mean() / rng.choice(v, v.size).mean() for _ in range(n_boot)] or [ratio]
        lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
        out[name] = (ratio, float(lo), float(hi))
    return out


def table1_intervals(scores: dict, bins: int, epsilon: float, n_boot: int, seed: int,
                     level: float = 0.95) -> pd.DataFrame:
    """Per pattern and Table I column (H_TD, H_VD): the difference H(reconstruction) − H(latent)
    and its percentile bootstrap interval (T, V and D resampled, the histograms re-binned)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, s in scores.items():
        def diff(sample):
            h = {loss: cross_entropy_table({k: sample(k, loss) for k in ("T", "V", "D")}, bins=bins, epsilon=epsilon)
                 for loss in LOSSES}
            return {col: h["reconstruction"][col] - h["latent"][col] for col in ("H_TD", "H_VD")}
        point = diff(lambda k, loss: s[k][loss])
        boots = []
        for _ in range(n_boot):
            index = {k: rng.integers(0, len(s[k]["latent"]), len(s[k]["latent"])) for k in ("T", "V", "D")}
            boots.append(diff(lambda k, loss: s[k][loss][index[k]]))
        for col in ("H_TD", "H_VD"):
            values = [b[col] for b in boots] or [point[col]]
            lo, hi = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
            rows.append({"pattern": name, "column": col, "difference": point[col], "low": float(lo), "high": float(hi)})
    return pd.DataFrame(rows)


def split_driven(ce: pd.DataFrame) -> dict[str, bool]:
    """Patterns where, under the reconstruction loss, the two defect-free sets differ at least as
    much as V and D do: D(T‖V) = H(T,V) − H(T) >= D(V‖D) = H(V,D) − H(V). There, H(T,D) measures
    the T/V split rather than the defects."""
    rec = ce[ce.loss == "reconstruction"].set_index("pattern")
    return {name: bool(row.H_TV - row.H_T >= row.H_VD - row.H_V) for name, row in rec.iterrows()}


# ------------------------------------------------------------------------------------ verdict

def _clear(a: Reliability, b: Reliability) -> bool:
    """The bootstrap intervals of the two AUROCs do not overlap."""
    return a.auroc_ci[0] > b.auroc_ci[1] or b.auroc_ci[0] > a.auroc_ci[1]


def _h(ce: pd.DataFrame, name: str, loss: str) -> pd.Series:
    return ce[(ce.pattern == name) & (ce.loss == loss)].iloc[0]


def _table1_case(ce: pd.DataFrame, intervals: pd.DataFrame | None, name: str, col: str) -> str:
    """"larger", "smaller" or "tie" for the reconstruction loss's cross-entropy in one Table I
    case; a tie when the bootstrap interval of the difference contains 0 (no intervals: exact)."""
    if intervals is not None:
        row = intervals[(intervals.pattern == name) & (intervals.column == col)].iloc[0]
        return "larger" if row.low > 0 else "smaller" if row.high < 0 else "tie"
    diff = _h(ce, name, "reconstruction")[col] - _h(ce, name, "latent")[col]
    return "larger" if diff > 0 else "smaller" if diff < 0 else "tie"


def tally(rel: dict, ce: pd.DataFrame, names, intervals: pd.DataFrame | None = None,
          split: dict[str, bool] | None = None) -> dict[str, int]:
    """The counts behind the verdict: patterns where the reconstruction loss has the larger AUROC
    (and clearly), where the latent loss is clearly better, and Table I cases (H(T,D), H(V,D))
    where the reconstruction loss's cross-entropy is larger / smaller beyond the tolerance or
    tied; split-driven patterns' cases are not counted."""
    names = list(names)
    split = split or {}
    counts = {"patterns": len(names), "reconstruction_better": 0, "reconstruction_clearly_better": 0,
              "latent_clearly_better": 0, "table1_cases": 0, "table1_reconstruction_larger": 0,
              "table1_ties": 0, "table1_latent_larger": 0, "table1_split_driven": 0}
    for name in names:
        r, lat = rel[name, "reconstruction"], rel[name, "latent"]
        better = r.auroc > lat.auroc
        counts["reconstruction_better"] += better
        counts["reconstruction_clearly_better"] += better and _clear(r, lat)
        counts["latent_clearly_better"] += (not better) and _clear(r, lat)
        if split.get(name):
            counts["table1_split_driven"] += 2
            continue
        for col in ("H_TD", "H_VD"):
            case = _table1_case(ce, intervals, name, col)
            counts["table1_cases"] += 1
            counts[{"larger": "table1_reconstruction_larger", "tie": "table1_ties",
                    "smaller": "table1_latent_larger"}[case]] += 1
    return {k: int(v) for k, v in counts.items()}


def _summary(c: dict) -> str:
    """The per-pattern count, without a status: one model per pattern, so :func:`claims` decides."""
    n, better, clear_rec, clear_lat = (c["patterns"], c["reconstruction_better"], c["reconstruction_clearly_better"],
                                       c["latent_clearly_better"])
    return (f"**Per pattern**: the reconstruction loss separates defect from valid patches better on {better} of "
            f"{n} patterns ({clear_rec} with non-overlapping AUROC intervals), the latent loss with non-overlapping "
            f"intervals on {clear_lat}. One model per pattern: the claims table above decides.")


def _mean_text(ratio: float, ci: tuple[float, float] | None) -> str:
    """The paper's "defects have a larger latent loss on average", judged by the ratio D / V
    (with its bootstrap interval when given; without, within 5 % counts as the same)."""
    if ci is not None:
        band = f" [{ci[0]:.2f}, {ci[1]:.2f}]"
        larger, smaller = ci[0] > 1, ci[1] < 1
    else:
        band, larger, smaller = "", ratio > 1.05, ratio < 0.95     # no interval: a 5 % tie band, a rule of thumb
    if larger:
        return f"{ratio:.2f}×{band} that of V (larger on average, as the paper found)"
    if smaller:
        return f"{ratio:.2f}×{band} that of V (smaller on average: goes against the paper's \"larger on average\")"
    return (f"{ratio:.2f}×{band} that of V (not larger on average: goes against the paper's \"larger on "
            f"average\")")


def _pattern_line(name: str, lam: float, r: Reliability, lat: Reliability, h_vd: tuple[float, float],
                  ratio: float, ci: tuple[float, float] | None = None) -> str:
    better = "reconstruction" if r.auroc > lat.auroc else "latent"
    inverted = (" The latent loss is *inverted*: defect patches tend to have a *smaller* latent loss than "
                "valid ones, the opposite of what a latent-loss detector assumes." if lat.auroc_ci[1] < 0.5 else "")
    return (f"- **{name}** (λ = {lam:g}): AUROC reconstruction {auroc_text(r.auroc)} [{r.auroc_ci[0]:.3f}, "
            f"{r.auroc_ci[1]:.3f}] vs latent {auroc_text(lat.auroc)} [{lat.auroc_ci[0]:.3f}, {lat.auroc_ci[1]:.3f}]; "
            f"H(V,D) {h_vd[0]:.2f} vs {h_vd[1]:.2f} bits; mean latent loss of D {_mean_text(ratio, ci)}. "
            f"The {better} loss separates defects better" + (" (clearly)." if _clear(r, lat) else " (intervals overlap).")
            + inverted)


def _table1_line(c: dict, split_names: list[str] | None = None, tolerance: bool = False) -> str:
    larger, cases, ties, smaller = (c["table1_reconstruction_larger"], c["table1_cases"], c["table1_ties"],
                                    c["table1_latent_larger"])
    split_names = split_names or []
    start = "- **Table I**: H(T,D) and H(V,D) are larger for the reconstruction loss than for the latent loss"
    rule = (" (a difference counts only when its 95 % bootstrap interval excludes 0; otherwise it is a tie)"
            if tolerance else "")
    excluded = (f" Not counted: {', '.join(split_names)}, where the two defect-free sets T and V differ under "
                f"the reconstruction loss at least as much as V and D do (D(T‖V) ≥ D(V‖D)), so the T/V split, "
                f"not the defects, drives its cross-entropies." if split_names else "")
    if cases == 0:
        return f"- **Table I**: inconclusive: no pattern is left to compare.{excluded}"
    if larger == cases:
        body = (f"{start} in all {cases} cases{rule}, as in the paper (4 of 4): the defect histograms move further "
                f"from the valid ones under the reconstruction loss.")
    elif larger == 0:
        body = (f"{start} in none of the {cases} cases{rule} (paper: 4 of 4); {ties} tied and {smaller} larger "
                f"for the latent loss: this goes against the paper.")
    else:
        body = (f"{start} in {larger} of {cases} cases{rule} (paper: 4 of 4); {ties} tied and {smaller} larger "
                f"for the latent loss.")
    return body + excluded


def _speed_line(speedup: float, device: str) -> str:
    return (f"- **Speed**: encoder-only scoring was {speedup:.2f}× faster than the full model on `{device}` "
            f"(the paper: \"more than {PUBLISHED['speedup']:g}×\"; the claims table decides, with the interval "
            f"over the timed calls). A timing of the network's arithmetic, valid whatever the model learnt.")


def _lambda_line(selected: dict[str, float], unusable: str | None = None) -> str:
    n = len(selected)
    k = sum(bool(np.isclose(v, PUBLISHED["lambda"])) for v in selected.values())
    if unusable:
        return (f"- **λ search**: {unusable}: the search picked λ = 1e-5 on {k} of {n} patterns, but from "
                f"candidates that did not all learn.")
    if k == n:
        picked = f"the search picked λ = 1e-5 on all {n} patterns, as the paper did on both of theirs"
    elif k == 0:
        chosen = ", ".join(f"{v:g}" for v in selected.values())
        picked = f"the search picked λ = 1e-5 on none of the {n} patterns ({chosen}; paper: 1e-5 on both of theirs)"
    else:
        picked = f"the search picked λ = 1e-5 on {k} of {n} patterns (paper: on both of theirs)"
    return f"- **λ search**: {picked}; it used defect patches (D_sel), which a one-class setting lacks."


def verdict(rel: dict, ce: pd.DataFrame, ratios: dict[str, float], selected: dict[str, float],
            speedup: float, device: str, *, healths: dict | None = None, search_healths: dict | None = None,
            ratio_ci: dict | None = None, intervals: pd.DataFrame | None = None,
            split: dict[str, bool] | None = None) -> list[str]:
    """The verdict as markdown lines: a summary, one line per pattern, Table I, speed and λ.

    ``rel``: {(pattern, loss): Reliability} (D against V); ``ce``: :func:`cross_entropy`'s table;
    ``ratios``: :func:`latent_ratio`; ``selected``: the λ of each pattern (its order is the
    patterns' order); ``speedup``: full-model over encoder-only scoring time.
    ``healths``: {pattern: Health} of the final models: a pattern whose model is not usable is
    left out of every claim and its line says inconclusive; ``search_healths``:
    {(pattern, λ): Health} of the λ search (the λ line is inconclusive unless all are usable);
    ``ratio_ci``: :func:`latent_ratio_ci`; ``intervals``: :func:`table1_intervals` (Table I
    differences inside their interval are ties); ``split``: :func:`split_driven`.
    A difference of AUROCs is *clear* when their bootstrap intervals do not overlap.
    """
    names = list(selected)
    if not names:
        raise ValueError("verdict needs at least one pattern")
    healths = healths or {}
    bad = {n: health.inconclusive({f"model of {n}": healths[n]}) for n in names if n in healths}
    usable = [n for n in names if not bad.get(n)]
    lines = []
    for name in names:
        if bad.get(name):
            lines.append(f"- **{name}** (λ = {selected[name]:g}): {bad[name]}; its AUROCs, cross-entropies and "
                         f"latent-loss ratio are not evidence.")
            continue
        ci = ratio_ci[name][1:] if ratio_ci else None
        lines.append(_pattern_line(name, selected[name], rel[name, "reconstruction"], rel[name, "latent"],
                                   (_h(ce, name, "reconstruction").H_VD, _h(ce, name, "latent").H_VD),
                                   ratios[name], ci))
    if not usable:
        summary = ("**Inconclusive**: no pattern's model is usable ("
                   + "; ".join(f"model of {n} {healths[n].status}" for n in names) + ").")
        table1 = "- **Table I**: inconclusive (no usable model)."
    else:
        counts = tally(rel, ce, usable, intervals, split)
        summary = _summary(counts)
        if len(usable) < len(names):
            summary += f" ({len(names) - len(usable)} pattern(s) left out: inconclusive, see below.)"
        split_names = [n for n in usable if (split or {}).get(n)]
        table1 = _table1_line(counts, split_names, intervals is not None)
    lam_bad = health.inconclusive({f"λ={lam:g} on {n}": h for (n, lam), h in (search_healths or {}).items()})
    return [summary, *lines, table1, _speed_line(speedup, device), _lambda_line(selected, lam_bad)]


# ------------------------------------------------------------------------------- parameters

def parameter_specs() -> dict:
    """The chapter's parameters and their ranges (beyond the common ones)."""
    return {
        "patterns": params.choices_list(*textile.PATTERNS), "patch_size": params.integer(8, 512),
        "depth": params.integer(1, 6), "base_channels": params.integer(1, 256),
        "latent_dim": params.integer(1, 4096), "lambdas": params.Spec((list, tuple), nonempty=True),
        "iterations": params.integer(1, 1_000_000), "final_iterations": params.integer(1, 1_000_000),
        "batch_size": params.integer(1, 4096), "lr": params.number(1e-6, 1.0),
        "n_train": params.integer(1, 1_000_000), "n_valid": params.integer(2, 1_000_000),
        "n_defect": params.integer(2, 1_000_000), "n_select": params.integer(2, 1_000_000),
        "web_size": params.integer(64, 8192), "n_flaws": params.integer(1, 1000),
        "pitch": params.number(3.0, 64.0), "ce_bins": params.integer(2, 10_000),
        "ce_epsilon": params.number(1e-300, 0.1), "n_boot": params.integer(0, 100_000),
        "timing_batch": params.integer(1, 100_000), "timing_repeats": params.integer(1, 10_000),
        "timing_warmup": params.integer(0, 1000), "real_scale": params.number(0.01, 4.0),
        "real_max_images": params.integer(1, 1_000_000),
    }


def check_parameters(p: dict, data_root: str | None) -> list[float]:
    """What the ranges cannot say (raises ``ParameterError``); returns the λ grid, sorted."""
    if p["patch_size"] % 2 ** p["depth"]:
        raise params.ParameterError(f"patch_size={p['patch_size']} must be a multiple of 2**depth={2 ** p['depth']}")
    lambdas = p["lambdas"]
    if not lambdas or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1e3
                              for v in lambdas):
        raise params.ParameterError(f"lambdas={lambdas!r} must be a non-empty list of numbers in [0, 1000]")
    if p["final_iterations"] < p["iterations"]:
        raise params.ParameterError(f"final_iterations={p['final_iterations']} must be >= iterations={p['iterations']} "
                             f"(the selected model trains on beyond the search)")
    if p["patterns"] and p["patch_size"] > p["web_size"]:
        raise params.ParameterError(f"patch_size={p['patch_size']} is larger than web_size={p['web_size']}; the webs "
                             f"must hold a patch")
    if not p["patterns"] and not data_root:
        raise params.ParameterError("patterns is empty and no data_root / ADLIB_DATA was given: nothing to run")
    return sorted(float(v) for v in lambdas)


def auroc_gap_interval(scores: dict, name: str) -> tuple[float, float] | None:
    """95 % paired bootstrap interval of AUROC(reconstruction) − AUROC(latent) on pattern
    ``name``: the same V and D patches resampled for both losses, within V and within D."""
    labels, rec = _labelled(scores, name, "reconstruction")
    _, lat = _labelled(scores, name, "latent")
    idx = resamples(len(labels), strata=labels)
    return percentile_interval(auroc_rows(labels[idx], rec[idx]) - auroc_rows(labels[idx], lat[idx]))


def speedup_interval(timing: dict) -> tuple[float, float] | None:
    """95 % bootstrap interval of the speed-up (median full over median encoder-only time),
    resampling the interleaved timed calls in pairs."""
    full, encoder = (np.asarray(timing["calls"][k]) for k in ("full", "encoder"))
    return paired_interval(lambda idx: float(np.median(full[idx]) / np.median(encoder[idx])), len(full))


PAPER_DATA = "their own woven-fabric photographs (not published)"


# The speed-up is a property of the architecture on a device: weights (and so health) do not change it.
TIMING_NOT_HEALTH = "a timing of the architecture: its weights, and so its health, do not change the speed"


def claims(scores: dict, healths: dict, split: dict[str, bool], timing: dict | None = None) -> list[dict]:
    """The verdict table's rows (:mod:`adlib.claims`): the latent (KL) loss is less reliable than
    the reconstruction loss (per pattern, the paired bootstrap interval of the AUROC gap above 0;
    patterns whose model is not usable, or whose held-out normals differ from training as much
    as the defects do (:func:`split_driven`), are left out with the reason), and encoder-only
    scoring is more than 2× faster (:data:`PUBLISHED` ``speedup``)."""
    text = "The latent (KL) loss is less reliable than the reconstruction loss (patch AUROC)"
    left_out = {n: f"{n}: model {healths[n].status}" for n in scores if not healths[n].usable}
    left_out.update({n: f"{n}: held-out normals as far from training as the defects (split-driven)"
                     for n in scores if n not in left_out and split.get(n)})
    judged = [n for n in scores if n not in left_out]
    data = Data(PAPER_DATA, ", ".join(judged or list(scores)), False, available=False)
    note = "; ".join(f"{why}: left out" for why in left_out.values())
    if not judged:
        rows = [judge(text, data, models={f"VAE on {n}": healths[n] for n in scores}, no_interval="no pattern left",
                      failed_task=None if any(not h.usable for h in healths.values()) else note)]
    else:
        intervals = {n: auroc_gap_interval(scores, n) for n in judged}
        status, weakest = decide_parts(intervals, 0.0)
        (labels, rec), (_, lat) = _labelled(scores, weakest, "reconstruction"), _labelled(scores, weakest, "latent")
        gap = float(auroc_rows(labels[None], rec[None])[0] - auroc_rows(labels[None], lat[None])[0])
        rows = [judge(text, data, status=status,
                      models={f"VAE on {n}": healths[n] for n in judged}, ours=gap, interval=intervals[weakest],
                      interval_method=f"95 % paired bootstrap over V and D patches, on {weakest}"
                                        + (f" (of {len(judged)} patterns, the one that decides)" if len(judged) > 1 else ""),
                        unit="AUROC gap (reconstruction − latent)", note=note,
                        seeds=1)]                            # one final model per pattern
    speed = f"Encoder-only (latent) scoring is more than {PUBLISHED['speedup']:g}× faster than the full model"
    device = Data("their GPU (unnamed)", f"this build's device ({timing.get('device', '?')})" if timing else "not run",
                  False, available=False)
    if timing and timing.get("calls"):
        interval = speedup_interval(timing)
        rows.append(judge(speed, device, status=decide(interval, PUBLISHED["speedup"]), ours=timing["speedup"],
                          interval=interval, interval_method="95 % bootstrap over the interleaved timed calls",
                          published=PUBLISHED["speedup"], unit="×", no_models=TIMING_NOT_HEALTH))
    else:
        rows.append(judge(speed, device, no_interval="not timed in this build", published=PUBLISHED["speedup"],
                          unit="×", no_models="not timed"))
    return rows


def _labelled(scores: dict, name: str, loss: str) -> tuple[np.ndarray, np.ndarray]:
    v, d = scores[name]["V"][loss], scores[name]["D"][loss]
    return np.r_[np.zeros(len(v)), np.ones(len(d))], np.r_[v, d]
