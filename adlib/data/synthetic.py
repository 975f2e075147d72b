"""The synthetic sets of Schneider et al. (2022): *chess* and *noise*, with exact masks.

Both return an :class:`AnomalySet`: ``normal`` and ``anomalous`` images as float32 arrays
(N, 1, H, W) in [0, 1], boolean ``masks`` (N, H, W) of the anomalous pixels and ``clean``:
the anomalous images as they were before the defect and before acquisition noise.

How hard a set is depends on two knobs of each generator: the **defect strength** (chess:
``max_shift``, the largest displacement of the elastic deformation in pixels; noise:
``contrast``, how much brighter the line is than the background) and the acquisition noise
``noise_std`` added independently to every image (normal ones too). With ``antialias`` > 1
the board is rendered with area sampling, so a small displacement changes pixels only
partly. :func:`reference_iou` is the IoU that a *perfect* reconstruction of the defect-free
image would reach (the residual ``(x − clean)²`` thresholded at its IoU-maximising value):
the ceiling the data set puts on any reconstruction model, computed without training one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class AnomalySet:
    name: str
    normal: np.ndarray      # (N, 1, H, W) float32 in [0, 1]
    anomalous: np.ndarray   # (M, 1, H, W) float32 in [0, 1]
    masks: np.ndarray       # (M, H, W) bool, True where the image was altered
    clean: np.ndarray | None = None   # (M, 1, H, W) the anomalous images without defect and noise

    def __post_init__(self) -> None:
        if self.anomalous.shape[0] != self.masks.shape[0] or \
                self.anomalous.shape[2:] != self.masks.shape[1:]:
            raise ValueError(f"{self.name}: {self.masks.shape[0]} masks of size "
                             f"{self.masks.shape[1:]} do not match {self.anomalous.shape[0]} "
                             f"images of size {self.anomalous.shape[2:]}")


def _check(size: int, n_normal: int, n_anomalous: int) -> None:
    if size < 32:      # the chess board's default square is 16 px: 32 is the smallest image with two squares a side
        raise ValueError(f"size={size} is too small: use at least 32 pixels")
    if n_normal < 1 or n_anomalous < 1:
        raise ValueError("need at least one normal and one anomalous image")


def _chessboard(yy: np.ndarray, xx: np.ndarray, square: int, antialias: int = 1) -> np.ndarray:
    # Rendered analytically at (possibly displaced) coordinates: no interpolation blur, so
    # the mask of changed pixels is exact. antialias > 1 averages antialias² sub-pixel samples
    # (area sampling of the pixel [y, y + 1) × [x, x + 1)): the undeformed board stays
    # exactly black and white, and only pixels on a displaced edge change partly.
    offsets = (np.arange(antialias) + 0.5) / antialias if antialias > 1 else np.zeros(1)
    out = np.zeros(np.broadcast(yy, xx).shape, np.float64)
    for oy in offsets:
        for ox in offsets:
            out += (np.floor((yy + oy) / square) + np.floor((xx + ox) / square)) % 2
    return (out / len(offsets) ** 2).astype(np.float32)


def _acquire(rng: np.random.Generator, image: np.ndarray, noise_std: float) -> np.ndarray:
    """The image as a camera sees it: independent Gaussian noise, clipped to [0, 1]."""
    if noise_std <= 0:
        return image.astype(np.float32)
    return np.clip(image + rng.normal(0, noise_std, image.shape), 0, 1).astype(np.float32)


def elastic_field(shape: tuple[int, int], rng: np.random.Generator, sigma: float,
                  max_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Simard et al. (2003): uniform random displacements smoothed by a Gaussian.

    Scaled so the largest displacement is ``max_shift`` pixels (Simard's α, expressed in
    pixels so it does not depend on σ).
    """
    fields = []
    for _ in range(2):
        field = ndimage.gaussian_filter(rng.uniform(-1, 1, shape), sigma, mode="reflect")
        fields.append(field)
    scale = max_shift / max(np.sqrt(fields[0] ** 2 + fields[1] ** 2).max(), 1e-12)
    return fields[0] * scale, fields[1] * scale


def chess(n_normal: int = 4, n_anomalous: int = 4, size: int = 256, square: int = 16,
          region: float = 0.2, max_shift: float | None = None, sigma: float | None = None,
          seed: int = 0, antialias: int = 1, noise_std: float = 0.0,
          random_phase: bool = False) -> AnomalySet:
    """Black and white squares; anomalies are elastic deformations confined to a disk.

    ``region`` is the disk's radius as a fraction of ``size``; ``max_shift`` (the defect
    strength, default 0.6 squares) the largest displacement in pixels, ``sigma`` the
    smoothing of the displacement field. The board starts at the image origin in every
    image (like the paper's four identical-structure normal images), or, with
    ``random_phase``, at a random offset of 0 or 1 square down and right in each image (the
    same board, in either of its two colourings); ``noise_std`` adds
    acquisition noise to every image, ``antialias`` renders with area sampling. The mask is
    the set of pixels whose noise-free value the deformation changed.
    """
    _check(size, n_normal, n_anomalous)
    if not isinstance(antialias, int) or antialias < 1 or noise_std < 0:
        raise ValueError(f"need antialias >= 1 (an integer) and noise_std >= 0, got {antialias!r}, {noise_std}")
    rng = np.random.default_rng(seed)
    max_shift = square * 0.6 if max_shift is None else max_shift
    sigma = square * 0.5 if sigma is None else sigma
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)

    noise_rng = np.random.default_rng([seed, 1])      # the noise does not move the defects
    phase_rng = np.random.default_rng([seed, 2])

    def board(dy=0.0, dx=0.0, phase=(0, 0)):
        return _chessboard(yy + dy + phase[0] * square, xx + dx + phase[1] * square, square, antialias)

    def phase():
        return tuple(phase_rng.integers(0, 2, 2)) if random_phase else (0, 0)

    normal = [_acquire(noise_rng, board(phase=phase()), noise_std) for _ in range(n_normal)]
    anomalous, masks, cleans = [], [], []
    radius = region * size
    for _ in range(n_anomalous):
        cy, cx = rng.uniform(radius, size - radius, 2)
        # smooth window: full deformation inside the disk, fading out over one square
        distance = np.hypot(yy - cy, xx - cx)
        window = np.clip((radius - distance) / square, 0, 1)
        dy, dx = elastic_field((size, size), rng, sigma, max_shift)
        offset = phase()
        clean, deformed = board(phase=offset), board(dy * window, dx * window, offset)
        anomalous.append(_acquire(noise_rng, deformed, noise_std))
        masks.append(deformed != clean)
        cleans.append(clean)
    return AnomalySet("chess", np.stack(normal)[:, None], np.stack(anomalous)[:, None],
                      np.stack(masks), np.stack(cleans)[:, None])


def _gaussian_texture(rng: np.random.Generator, size: int, smoothing: float, mean: float,
                      std: float) -> np.ndarray:
    noise = rng.normal(0, 1, (size, size))
    if smoothing > 0:
        noise = ndimage.gaussian_filter(noise, smoothing, mode="wrap")
    noise = (noise - noise.mean()) / noise.std()
    return np.clip(mean + std * noise, 0, 1).astype(np.float32)


def noise(n_normal: int = 4, n_anomalous: int = 4, size: int = 256, smoothing: float = 1.0,
          line_width: float = 3.0, line_jitter: float = 2.0, seed: int = 0,
          contrast: float | None = None, noise_std: float = 0.0) -> AnomalySet:
    """Gaussian intensities (smoothed by ``smoothing`` pixels); the anomaly is a noisy linear
    function on top.

    The line y = a·x + b gets a smooth random wobble of about ``line_jitter`` pixels and its
    own noisy intensity; its pixels (``line_width`` wide) form the mask. ``contrast`` (the
    defect strength) adds that much to the background under the line, with a 0.05 spread;
    None replaces the line's pixels by intensities around 0.92 instead (the older rule).
    ``noise_std`` adds acquisition noise to every image.
    """
    _check(size, n_normal, n_anomalous)
    if noise_std < 0:
        raise ValueError(f"noise_std={noise_std} must be >= 0")
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng([seed, 1])
    mean, std = 0.5, 0.15
    normal = [_acquire(noise_rng, _gaussian_texture(rng, size, smoothing, mean, std), noise_std)
              for _ in range(n_normal)]
    cleans = []
    anomalous, masks = [], []
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    for _ in range(n_anomalous):
        image = _gaussian_texture(rng, size, smoothing, mean, std)
        slope = np.tan(rng.uniform(-np.pi / 4, np.pi / 4))
        intercept = rng.uniform(0.3, 0.7) * size - slope * size / 2
        wobble = ndimage.gaussian_filter1d(rng.normal(0, 1, size), 4)
        wobble *= line_jitter / max(np.abs(wobble).max(), 1e-12)
        centre = slope * xx + intercept + wobble[None, :]
        mask = np.abs(yy - centre) <= line_width / 2
        if contrast is None:
            line = np.clip(rng.normal(0.92, 0.05, (size, size)), 0, 1).astype(np.float32)
        else:
            line = np.clip(image + rng.normal(contrast, 0.05, (size, size)), 0, 1).astype(np.float32)
        cleans.append(image)
        mask &= line != image                      # exact: only the pixels the line changed
        anomalous.append(_acquire(noise_rng, np.where(mask, line, image), noise_std))
        masks.append(mask)
    return AnomalySet("noise", np.stack(normal)[:, None], np.stack(anomalous)[:, None],
                      np.stack(masks), np.stack(cleans)[:, None])


def reference_iou(data: AnomalySet) -> float:
    """The IoU of the *perfect reconstruction*: the residual ``(x − clean)²`` of every anomalous
    image against its own defect-free, noise-free version, thresholded at the IoU-maximising
    constant. No model is trained: this is the ceiling the set's defect strength and noise
    put on the IoU of any reconstruction model."""
    from adlib.metrics import best_iou_threshold      # here: metrics imports heavier modules

    if data.clean is None:
        raise ValueError(f"{data.name}: the set carries no clean images")
    residual = ((data.anomalous - data.clean) ** 2)[:, 0]
    return best_iou_threshold(residual, data.masks).iou


GENERATORS = {"chess": chess, "noise": noise}
