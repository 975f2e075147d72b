"""The cross-paper benchmark: every method on every dataset under one protocol.

The protocol (the chapter ``benchmark_cross_paper`` states it to readers):

- **Data**: every set is grey, ``size``×``size`` pixels, float32 in [0, 1]; training images
  are defect-free; the test split holds normal and defective images, with exact pixel masks
  where the data have them (:func:`embedded_sets`, :func:`folder_sets`).
- **Training budget**: every trained model gets the same number of Adam steps
  (``iterations``) at batch size ``batch_size`` (Zhu's RotNet keeps its SGD, and gets the
  same number of steps as its decoders), from the same seed.
- **Image score**: a method's own image score where its paper defines one (Zhu: MSE − λ·SSIM;
  Saeedi: k-NN distance of the map's embedding; the baselines), otherwise
  :func:`image_score` of its anomaly map: the maximum of the map after a mean filter, so a
  single noisy pixel cannot decide.
- **Metrics**: image AUROC and AP; pixel AUROC where there are masks and maps; fit time and
  scoring time per image on the run's device.

Methods share one interface: ``Method.fit(train, seed=..., iterations=..., device=...)`` then
``Method.evaluate(test)`` → ``{variant: Output(scores, maps)}`` (one trained model can give
several variants, e.g. Soukup's reconstruction and latent scores).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from adlib import metrics, patches, runtime
from adlib.data import elpv, folders, objects, textile, textures
from adlib.models import fadaeinejad, oneclass_baselines, saeedi, schneider, soukup, zhu


# ----------------------------------------------------------------------------- data

@dataclass
class BenchmarkSet:
    name: str
    stands_for: str                  # what kind of inspection problem it is
    train: np.ndarray                # (N, 1, S, S) defect-free
    test: np.ndarray                 # (M, 1, S, S)
    labels: np.ndarray               # (M,) 0 normal, 1 defective
    masks: np.ndarray | None = None  # (M, S, S) bool, or None when the data have no masks
    source: str = ""

    def __post_init__(self) -> None:
        for what, array in (("train", self.train), ("test", self.test)):
            if array.ndim != 4 or array.shape[1] != 1:
                raise ValueError(f"{self.name}: {what} must be (N, 1, S, S) grey images, got {array.shape}")
        if len(self.test) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.test)} test images but {len(self.labels)} labels")
        if not (0 < self.labels.sum() < len(self.labels)):
            raise ValueError(f"{self.name}: the test split needs normal and defective images")
        if self.masks is not None and self.masks.shape != (len(self.test), *self.test.shape[2:]):
            raise ValueError(f"{self.name}: masks {self.masks.shape} do not match test images {self.test.shape}")


def _crops(image: np.ndarray, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    ys = rng.integers(0, image.shape[0] - size + 1, n)
    xs = rng.integers(0, image.shape[1] - size + 1, n)
    return np.stack([image[y:y + size, x:x + size] for y, x in zip(ys, xs)])


def texture_set(name: str, size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    """Crops of a scikit-image texture: top half for training, bottom half for testing, half of
    the test crops with a synthesised scratch, stain or smear."""
    rng = np.random.default_rng(seed)
    image = textures.load_texture(name, 256)
    top, bottom = image[:128], image[128:]
    train = _crops(top, size, n_train, rng)
    test = _crops(bottom, size, 2 * n_test, rng)
    masks = np.zeros(test.shape, bool)
    for i in range(n_test, 2 * n_test):
        test[i], masks[i] = textures.add_defect(test[i], textures.DEFECTS[i % len(textures.DEFECTS)], rng)
    kind = textures.TEXTURES[name]
    return BenchmarkSet(f"{name} ({kind} texture)", f"{kind} surface", train[:, None], test[:, None],
                        np.r_[np.zeros(n_test, int), np.ones(n_test, int)], masks,
                        f"skimage.data.{name}, synthesised defects")


def weave_set(pattern: str, size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    sets = textile.textile_patch_sets(pattern, patch_size=size, n_train=n_train, n_valid=n_test,
                                      n_defect=n_test, n_select=1, seed=seed)
    test = np.concatenate([sets.valid, sets.defect])
    masks = np.concatenate([np.zeros(sets.valid.shape[:1] + sets.valid.shape[2:], bool), sets.defect_masks])
    return BenchmarkSet(f"{pattern} weave", "textile web", sets.train, test,
                        np.r_[np.zeros(len(sets.valid), int), np.ones(len(sets.defect), int)], masks,
                        f"adlib.data.textile ({pattern}), weaving flaws")


def object_set(size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    per_defect = max(1, n_test // len(objects.DEFECTS))
    data = objects.hazelnut_like(n_train, per_defect * len(objects.DEFECTS), per_defect, size=size, seed=seed)
    grey = lambda x: x.mean(axis=1, keepdims=True).astype(np.float32)  # noqa: E731
    return BenchmarkSet("hazelnut-like objects", "single object", grey(data.train), grey(data.test),
                        data.labels, data.masks, "adlib.data.objects, crack/cut/hole/print")


def elpv_set(kind: str, size: int, n_train: int, n_test: int) -> BenchmarkSet:
    cell = elpv.load_elpv((kind,), size=size, max_train=n_train, max_test_normal=n_test,
                          max_test_defective=n_test, max_uncertain=0)[kind]
    return BenchmarkSet(f"ELPV {kind} cells", "real solar-cell electroluminescence", cell.train, cell.test,
                        cell.labels, None, "elpv-dataset (PyPI), defect probability 0 vs 1")


EMBEDDED = {
    "brick": lambda s, a, b, seed: texture_set("brick", s, a, b, seed),
    "gravel": lambda s, a, b, seed: texture_set("gravel", s, a, b, seed),
    "plain_weave": lambda s, a, b, seed: weave_set("plain", s, a, b, seed),
    "objects": lambda s, a, b, seed: object_set(s, a, b, seed),
    "elpv_mono": lambda s, a, b, seed: elpv_set("mono", s, a, b),
}


def embedded_sets(names, size: int, n_train: int, n_test: int, seed: int = 0) -> list[BenchmarkSet]:
    """The embedded datasets named (keys of ``EMBEDDED``); ``n_test`` normal + ``n_test`` defective."""
    unknown = [n for n in names if n not in EMBEDDED]
    if unknown:
        raise ValueError(f"unknown benchmark dataset(s) {unknown}; choose from {sorted(EMBEDDED)}")
    return [EMBEDDED[n](size, n_train, n_test, seed) for n in names]


def folder_sets(root: str | Path, size: int, n_train: int, n_test_per_type: int) -> list[BenchmarkSet]:
    """Every MVTec-layout category under ``root``, resized to ``size``, grey. Masks are used
    when every defective image has one (else no pixel AUROC); a category without both normal
    and defective test images is left out with a warning."""
    out = []
    for folder in folders.find_mvtec_categories(root):
        c = folders.load_mvtec_category(folder, size=size, grey=True, max_train=n_train,
                                        max_test_per_type=n_test_per_type, require_masks=False)
        if not 0 < c.labels.sum() < len(c.labels):
            warnings.warn(f"{folder}: the test split needs normal and defective images; "
                          "left out of the benchmark", stacklevel=2)
            continue
        defective = c.masks[c.labels == 1].reshape(int(c.labels.sum()), -1)
        masks = c.masks if defective.any(axis=1).all() else None
        out.append(BenchmarkSet(c.name, "real data (MVTec layout)", c.train, c.test, c.labels, masks,
                                str(folder)))
    return out


# ----------------------------------------------------------------------------- scoring rule

def image_score(maps: torch.Tensor | np.ndarray, window: int = 5) -> np.ndarray:
    """(N,) the protocol's image score of (N, H, W) anomaly maps: the maximum after a
    ``window``×``window`` mean filter."""
    maps = torch.as_tensor(np.asarray(maps, dtype=np.float32))[:, None]
    smoothed = F.avg_pool2d(maps, window, stride=1, padding=window // 2, count_include_pad=False)
    return smoothed.flatten(1).amax(dim=1).numpy().astype(np.float64)


def pixel_auroc(maps: np.ndarray, masks: np.ndarray, labels: np.ndarray) -> float:
    """Pixel AUROC over the defective test images (the normal ones add only negatives)."""
    chosen = labels == 1
    return float(roc_auc_score(masks[chosen].ravel(), np.asarray(maps)[chosen].ravel()))


@dataclass
class Output:
    scores: np.ndarray                 # (M,) higher = more anomalous
    maps: np.ndarray | None = None     # (M, S, S) or None


# ----------------------------------------------------------------------------- methods

@dataclass
class Method:
    """Base: subclasses set ``name``, ``paper`` and implement ``_fit`` and ``evaluate``."""
    name: str = ""
    paper: str = ""
    trained: bool = True
    settings: dict = field(default_factory=dict)

    def fit(self, train: torch.Tensor, *, seed: int, iterations: int, batch_size: int,
            device: torch.device) -> "Method":
        runtime.seed_everything(seed)     # the initial weights come from the global seed
        self.device = device
        self._fit(train, seed=seed, iterations=iterations, batch_size=batch_size)
        return self

    def _fit(self, train, *, seed, iterations, batch_size):
        raise NotImplementedError

    def evaluate(self, test: torch.Tensor) -> dict[str, Output]:
        raise NotImplementedError


class SchneiderPatchAE(Method):
    """Schneider et al.'s CAE / VAE / AAE on ``patch``-pixel crops; maps from overlapping tiles."""

    def __init__(self, kind: str, patch: int = 32):
        super().__init__(f"{kind} (Schneider)", "schneider2022", settings={"patch": patch})
        self.kind, self.patch = kind, patch

    def _fit(self, train, *, seed, iterations, batch_size):
        self.model = schneider.build(self.kind, input_size=self.patch, in_channels=1)
        self.model.fit(patches.random_crops(train, self.patch), iterations=iterations,
                       batch_size=batch_size, seed=seed, device=self.device, progress=False)

    def evaluate(self, test):
        maps = patches.image_anomaly_maps(self.model, test, self.patch, self.patch // 2).numpy()
        return {self.name: Output(image_score(maps), maps)}


class SoukupVAEMethod(Method):
    """Soukup & Pinetz's VAE on patches; one model, two scores: reconstruction and latent (KL)
    loss of each overlapping patch, spread over its pixels."""

    def __init__(self, patch: int = 32, kl_weight: float = 1e-5):
        super().__init__("VAE (Soukup)", "soukup2018", settings={"patch": patch, "kl_weight": kl_weight})
        self.patch, self.kl_weight = patch, kl_weight

    def _fit(self, train, *, seed, iterations, batch_size):
        self.model = soukup.build(input_size=self.patch, in_channels=1, depth=3, kl_weight=self.kl_weight)
        self.model.fit(patches.random_crops(train, self.patch), iterations=iterations,
                       batch_size=batch_size, seed=seed, device=self.device, progress=False)

    def evaluate(self, test):
        stride = self.patch // 2
        tiles = patches.grid_patches(test, self.patch, stride)
        losses = self.model.losses(tiles)
        out = {}
        for loss, label in (("reconstruction", "VAE reconstruction (Soukup)"), ("latent", "VAE latent (Soukup)")):
            per_tile = torch.from_numpy(losses[loss]).float()[:, None, None].expand(-1, self.patch, self.patch)
            maps = patches.assemble(per_tile, test.shape[2:], self.patch, stride).numpy()
            out[label] = Output(image_score(maps), maps)
        return out


class FadaeinejadCAE(Method):
    """Fadaeinejad's whole-image CAE (their Table 1-2 layers, latent 500); map = |x − x̂|."""

    def __init__(self, latent: int = 500):
        super().__init__("CAE (Fadaeinejad)", "fadaeinejad2023", settings={"latent": latent})
        self.latent = latent

    def _fit(self, train, *, seed, iterations, batch_size):
        self.model = fadaeinejad.CAE(input_size=train.shape[-1], in_channels=1, latent=self.latent)
        self.model.fit(train, iterations=iterations, batch_size=batch_size, seed=seed,
                       device=self.device, progress=False)

    def evaluate(self, test):
        maps = self.model.anomaly_map(test).numpy()
        return {self.name: Output(image_score(maps), maps)}


class ZhuTwoStage(Method):
    """Zhu et al.'s RotNet encoder (frozen) + MSE and −SSIM decoders, on 32-pixel images;
    score MSE − λ·SSIM; map = the MSE decoder's squared residual, upsampled."""

    def __init__(self, width: int = 8, lam: float = 1.0, rot_lr: float = 0.1, decoder_lr: float = 2e-4):
        # learning rates as in the paper (SGD 0.1 for the RotNet, Adam 2e-4 for the decoders)
        super().__init__("Two-stage RotNet AE (Zhu)", "zhu2021",
                         settings={"width": width, "lam": lam, "rot_lr": rot_lr, "decoder_lr": decoder_lr})
        self.width, self.lam, self.rot_lr, self.decoder_lr = width, lam, rot_lr, decoder_lr

    def _fit(self, train, *, seed, iterations, batch_size):
        small = saeedi.resize(train, zhu.INPUT_SIZE)
        rot = zhu.RotNet(1, self.width, stem_stride=2, amp=False, cosine_steps=iterations)
        rot.fit(small, iterations=iterations, batch_size=batch_size, lr=self.rot_lr, seed=seed,
                device=self.device, progress=False)
        runtime.seed_everything(seed)
        self.model = zhu.TwoStage(rot.encoder, ngf=16, lam=self.lam, amp=False)
        self.model.fit(small, iterations=iterations, batch_size=batch_size, lr=self.decoder_lr, seed=seed,
                       device=self.device, progress=False)

    def evaluate(self, test):
        small = saeedi.resize(test, zhu.INPUT_SIZE)
        mse, ssim = self.model.score_terms(small)
        residual = ((small - self.model.reconstruct(small)) ** 2).mean(dim=1, keepdim=True)
        maps = saeedi.resize(residual, test.shape[-1])[:, 0].numpy()
        return {self.name: Output((mse - self.lam * ssim).numpy().astype(np.float64), maps)}


_EXTRACTORS: dict[str, saeedi.FeatureExtractor] = {}


def _extractor(device: torch.device) -> saeedi.FeatureExtractor:
    """The pretrained CNN (EfficientNet-Lite0 from PyPI), loaded once per device."""
    if str(device) not in _EXTRACTORS:
        _EXTRACTORS[str(device)] = saeedi.FeatureExtractor().to(device)
    return _EXTRACTORS[str(device)]


class SaeediCPCAE(Method):
    """Saeedi & Giusti's conditional patch AE; two scores from one model: the proposed k-NN
    distance of the map's deep embedding, and their AE (L2) baseline (mean squared residual)."""

    def __init__(self, patch: int = 16, stride: int = 8, latent: int = 64, k: int = 15,
                 feature_size: int = 96):
        super().__init__("CPCAE (Saeedi)", "saeedi2023",
                         settings={"patch": patch, "stride": stride, "latent": latent, "k": k,
                                   "feature_size": feature_size})
        self.patch, self.stride, self.latent, self.k, self.feature_size = patch, stride, latent, k, feature_size

    def _fit(self, train, *, seed, iterations, batch_size):
        self.work = train.shape[-1]
        self.model = saeedi.CPCAE(in_channels=1, patch=self.patch, latent=self.latent, width=32)
        self.model.fit(saeedi.random_conditioned_patches(train, self.patch, self.stride), iterations=iterations,
                       batch_size=batch_size, seed=seed, device=self.device, progress=False)
        bank = saeedi.anomaly_maps(self.model, train, self.work, self.stride).maps
        self.scale = float(np.quantile(bank.numpy(), 0.99)) or 1.0
        self.bank = _extractor(self.device).embed(bank[:, None] / self.scale, self.feature_size, "pc")

    def evaluate(self, test):
        result = saeedi.anomaly_maps(self.model, test, self.work, self.stride)
        embedded = _extractor(self.device).embed(result.maps[:, None] / self.scale, self.feature_size, "pc")
        bank, queries = saeedi.standardise(self.bank, embedded)
        knn = saeedi.KNNScorer(min(self.k, len(bank)), self.device).fit(bank)
        maps = result.maps.numpy()
        return {"CPCAE + deep-feature k-NN (Saeedi)": Output(knn.score(queries).astype(np.float64), maps),
                "CPCAE, L2 score (Saeedi's AE baseline)": Output(result.l2.numpy().astype(np.float64), maps)}


class DeepFeatureKNN(Method):
    """Baseline without an autoencoder: k-NN distance between the pretrained CNN's
    (max-pooled) embeddings of the images themselves (Saeedi & Giusti's "Deep Feature")."""

    def __init__(self, k: int = 15, feature_size: int = 96):
        super().__init__("Deep-feature k-NN (baseline)", "saeedi2023", trained=False,
                         settings={"k": k, "feature_size": feature_size})
        self.k, self.feature_size = k, feature_size

    def _fit(self, train, *, seed, iterations, batch_size):
        self.bank = _extractor(self.device).embed(train, self.feature_size, "max")

    def evaluate(self, test):
        bank, queries = saeedi.standardise(self.bank, _extractor(self.device).embed(test, self.feature_size, "max"))
        knn = saeedi.KNNScorer(min(self.k, len(bank)), self.device).fit(bank)
        return {self.name: Output(knn.score(queries).astype(np.float64))}


class PCAResidual(Method):
    """Baseline without a network: squared residual of a PCA keeping 90 % of the variance."""

    def __init__(self, variance: float = 0.9):
        super().__init__("PCA residual (baseline)", "", trained=False, settings={"variance": variance})
        self.variance = variance

    def _fit(self, train, *, seed, iterations, batch_size):
        self.train, self.seed = train.numpy(), seed

    def evaluate(self, test):
        scores, _ = oneclass_baselines.pca_scores(self.train, test.numpy(), self.variance, seed=self.seed)
        return {self.name: Output(np.asarray(scores, dtype=np.float64))}


METHODS: dict[str, Callable[[], Method]] = {
    "schneider_cae": lambda: SchneiderPatchAE("CAE"),
    "schneider_vae": lambda: SchneiderPatchAE("VAE"),
    "schneider_aae": lambda: SchneiderPatchAE("AAE"),
    "soukup_vae": SoukupVAEMethod,
    "fadaeinejad_cae": FadaeinejadCAE,
    "zhu_two_stage": ZhuTwoStage,
    "saeedi_cpcae": SaeediCPCAE,
    "deep_feature_knn": DeepFeatureKNN,
    "pca": PCAResidual,
}


def build_methods(names) -> list[Method]:
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown benchmark method(s) {unknown}; choose from {sorted(METHODS)}")
    return [METHODS[n]() for n in names]


# ----------------------------------------------------------------------------- the loop

def run_one(method: Method, data: BenchmarkSet, *, seed: int, iterations: int, batch_size: int,
            device: torch.device) -> tuple[list[dict], dict[str, Output]]:
    """Fit ``method`` on ``data`` with ``seed``, score the test split; one record per variant."""
    train, test = torch.from_numpy(data.train), torch.from_numpy(data.test)
    start = time.perf_counter()
    method.fit(train, seed=seed, iterations=iterations, batch_size=batch_size, device=device)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    outputs = method.evaluate(test)
    score_ms = 1000 * (time.perf_counter() - start) / len(test)
    records = []
    for variant, out in outputs.items():
        if not np.isfinite(out.scores).all():
            raise FloatingPointError(f"{variant} on {data.name} (seed {seed}) gave non-finite scores: "
                                     "lower the learning rate or check the data")
        auroc, ap = metrics.image_auroc_ap(out.scores[data.labels == 0], out.scores[data.labels == 1])
        pixel = (pixel_auroc(out.maps, data.masks, data.labels)
                 if out.maps is not None and data.masks is not None else float("nan"))
        records.append({"dataset": data.name, "method": variant, "paper": method.paper, "seed": seed,
                        "image_auroc": auroc, "image_ap": ap, "pixel_auroc": pixel,
                        "fit_seconds": fit_seconds, "score_ms_per_image": score_ms})
    return records, outputs
