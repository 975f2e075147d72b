"""The ELPV solar-cell images (``elpv-dataset`` on PyPI), as one-class anomaly detection sets.

2,624 aligned 300×300 grey electroluminescence images of solar cells from 44 modules
(Buerhop-Lutz et al. 2018; Deitsch et al. 2019), each with the probability that it is
defective as judged by experts (0, 1/3, 2/3 or 1) and its type (``mono`` or ``poly``).

One category per type. *Normal* = probability 0, *anomalous* = probability 1; the uncertain
cells (1/3 and 2/3) are kept apart in ``uncertain`` and never mixed into the test labels.
The normal cells are split into train and test deterministically: sorted by file name,
every ``test_every``-th normal cell is a test cell (no randomness, no dependence on seeds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

TYPES = ("mono", "poly")
UNCERTAIN = (1 / 3, 2 / 3)


class ElpvError(FileNotFoundError):
    """The elpv-dataset package or one of its files is missing or unreadable."""


@dataclass
class ElpvCategory:
    name: str                          # 'mono' or 'poly'
    train: np.ndarray                  # (N, 1, H, W) float32 normal training cells
    test: np.ndarray                   # (M, 1, H, W) test cells: normal and defective
    labels: np.ndarray                 # (M,) 0 normal (p = 0), 1 defective (p = 1)
    uncertain: np.ndarray              # (U, 1, H, W) cells with p = 1/3 or 2/3
    uncertain_probability: np.ndarray  # (U,) 1/3 or 2/3
    files: list[str] = field(default_factory=list)            # test files
    uncertain_files: list[str] = field(default_factory=list)
    train_files: list[str] = field(default_factory=list)
    available: dict = field(default_factory=dict)             # counts before any subsetting


def package_folder() -> Path:
    """The folder holding ``labels.csv`` and ``images/`` of the installed elpv-dataset."""
    try:
        import elpv_dataset
    except ImportError:
        raise ElpvError("the ELPV data are not installed: pip install elpv-dataset") from None
    folder = Path(os.path.dirname(elpv_dataset.__file__)) / "data"
    if not (folder / "labels.csv").is_file():
        raise ElpvError(f"{folder / 'labels.csv'} is missing; reinstall elpv-dataset "
                        f"(pip install --force-reinstall elpv-dataset)")
    return folder


def read_labels(folder: Path | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(files, defect probabilities, types) from the package's ``labels.csv``."""
    folder = folder or package_folder()
    files, probs, types = [], [], []
    for line in (folder / "labels.csv").read_text().splitlines():
        if not line.strip():
            continue
        path, prob, kind = line.split()
        files.append(path)
        probs.append(float(prob))
        types.append(kind)
    return files, np.array(probs), types


def _subset(items: list, limit: int | None) -> list:
    """At most ``limit`` evenly spaced items (deterministic)."""
    if limit is None or len(items) <= limit:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def _read(folder: Path, names: list[str], size: int | None) -> np.ndarray:
    out = []
    for name in names:
        path = folder / name
        try:
            with Image.open(path) as img:
                img = img.convert("L")
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                out.append(np.asarray(img, dtype=np.float32) / 255.0)
        except (OSError, SyntaxError) as err:
            raise ElpvError(f"cannot read ELPV image {path}: {err}; reinstall elpv-dataset") from None
    if not out:
        return np.zeros((0, 1, size or 300, size or 300), np.float32)
    return np.stack(out)[:, None]


def load_elpv(types=TYPES, size: int | None = None, test_every: int = 4,
              max_train: int | None = None, max_test_normal: int | None = None,
              max_test_defective: int | None = None,
              max_uncertain: int | None = None) -> dict[str, ElpvCategory]:
    """One :class:`ElpvCategory` per cell type, images resized to ``size`` (None: 300).

    ``max_*`` take evenly spaced subsets (deterministic) for quick runs; ``max_uncertain``
    applies to each of the two uncertain probabilities separately.
    """
    if test_every < 2:
        raise ValueError(f"test_every={test_every} must be >= 2 (every n-th normal cell is a test cell)")
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        raise ValueError(f"ELPV has cell types {TYPES}, not {unknown}")
    folder = package_folder()
    files, probs, kinds = read_labels(folder)
    categories = {}
    for kind in types:
        mine = sorted((f, p) for f, p, k in zip(files, probs, kinds) if k == kind)
        normal = [f for f, p in mine if p == 0]
        defective = [f for f, p in mine if p == 1]
        uncertain = {u: [f for f, p in mine if abs(p - u) < 1e-6] for u in UNCERTAIN}
        test_normal = normal[test_every - 1::test_every]
        train_normal = [f for f in normal if f not in set(test_normal)]
        available = {"train": len(train_normal), "test_normal": len(test_normal),
                     "test_defective": len(defective), **{f"uncertain_{u:.2f}": len(v)
                                                          for u, v in uncertain.items()}}
        train_names = _subset(train_normal, max_train)
        test_names = _subset(test_normal, max_test_normal) + _subset(defective, max_test_defective)
        labels = np.r_[np.zeros(len(_subset(test_normal, max_test_normal)), int),
                       np.ones(len(_subset(defective, max_test_defective)), int)]
        unc_names, unc_probs = [], []
        for u, names in uncertain.items():
            chosen = _subset(names, max_uncertain)
            unc_names += chosen
            unc_probs += [u] * len(chosen)
        categories[kind] = ElpvCategory(
            kind, _read(folder, train_names, size), _read(folder, test_names, size), labels,
            _read(folder, unc_names, size), np.array(unc_probs), test_names, unc_names, train_names,
            available)
    return categories
