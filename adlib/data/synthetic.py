"""The synthetic sets of Schneider et al. (2022): *chess* and *noise*, with exact masks.

Both return an :class:`AnomalySet`: ``normal`` and ``anomalous`` images as float32 arrays
(N, 1, H, W) in [0, 1] and boolean ``masks`` (N, H, W) of the anomalous pixels.
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

    def __post_init__(self) -> None:
        if self.anomalous.shape[0] != self.masks.shape[0] or \
                self.anomalous.shape[2:] != self.masks.shape[1:]:
            raise ValueError(f"{self.name}: {self.masks.shape[0]} masks of size "
                             f"{self.masks.shape[1:]} do not match {self.anomalous.shape[0]} "
                             f"images of size {self.anomalous.shape[2:]}")


def _check(size: int, n_normal: int, n_anomalous: int) -> None:
    if size < 32:
        raise ValueError(f"size={size} is too small: use at least 32 pixels")
    if n_normal < 1 or n_anomalous < 1:
        raise ValueError("need at least one normal and one anomalous image")


def _chessboard(yy: np.ndarray, xx: np.ndarray, square: int) -> np.ndarray:
    # Rendered analytically at (possibly displaced) coordinates: no interpolation blur, so
    # the mask of changed pixels is exact.
    return ((np.floor(yy / square) + np.floor(xx / square)) % 2).astype(np.float32)


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
          seed: int = 0) -> AnomalySet:
    """Black and white squares; anomalies are elastic deformations confined to a disk.

    ``region`` is the disk's radius as a fraction of ``size``. The board starts at the image
    origin in every image (like the paper's four identical-structure normal images).
    """
    _check(size, n_normal, n_anomalous)
    rng = np.random.default_rng(seed)
    max_shift = square * 0.6 if max_shift is None else max_shift
    sigma = square * 0.5 if sigma is None else sigma
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)

    def board(dy=0.0, dx=0.0, offset=(0.0, 0.0)):
        return _chessboard(yy + dy + offset[0], xx + dx + offset[1], square)

    normal = [board() for _ in range(n_normal)]
    anomalous, masks = [], []
    radius = region * size
    for _ in range(n_anomalous):
        cy, cx = rng.uniform(radius, size - radius, 2)
        # smooth window: full deformation inside the disk, fading out over one square
        distance = np.hypot(yy - cy, xx - cx)
        window = np.clip((radius - distance) / square, 0, 1)
        dy, dx = elastic_field((size, size), rng, sigma, max_shift)
        clean = board()
        deformed = board(dy * window, dx * window)
        anomalous.append(deformed)
        masks.append(deformed != clean)
    return AnomalySet("chess", np.stack(normal)[:, None], np.stack(anomalous)[:, None],
                      np.stack(masks))


def _gaussian_texture(rng: np.random.Generator, size: int, smoothing: float, mean: float,
                      std: float) -> np.ndarray:
    noise = rng.normal(0, 1, (size, size))
    if smoothing > 0:
        noise = ndimage.gaussian_filter(noise, smoothing, mode="wrap")
    noise = (noise - noise.mean()) / noise.std()
    return np.clip(mean + std * noise, 0, 1).astype(np.float32)


def noise(n_normal: int = 4, n_anomalous: int = 4, size: int = 256, smoothing: float = 1.0,
          line_width: float = 3.0, line_jitter: float = 2.0, seed: int = 0) -> AnomalySet:
    """Gaussian intensities (slightly smoothed); the anomaly is a noisy linear function on top.

    The line y = a·x + b gets a smooth random wobble of about ``line_jitter`` pixels and its
    own noisy intensity; its pixels (``line_width`` wide) form the mask.
    """
    _check(size, n_normal, n_anomalous)
    rng = np.random.default_rng(seed)
    mean, std = 0.5, 0.15
    normal = [_gaussian_texture(rng, size, smoothing, mean, std) for _ in range(n_normal)]
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
        line = np.clip(rng.normal(0.92, 0.05, (size, size)), 0, 1).astype(np.float32)
        image = np.where(mask, line, image)
        anomalous.append(image)
        masks.append(mask)
    return AnomalySet("noise", np.stack(normal)[:, None], np.stack(anomalous)[:, None],
                      np.stack(masks))


GENERATORS = {"chess": chess, "noise": noise}
