"""The book's data page, generated from :mod:`adlib.data.registry` with a JPEG of sample images
per dataset:

    python -m adlib.data_page OUT.md      # writes OUT.md and OUT's folder data_samples/*.jpg
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np

from adlib import benchmark, tables
from adlib.data.registry import DATASETS
from adlib.runtime import atomic_write_bytes

DEFECT_TITLES = ("normal", "defective")


def data_page(samples: dict[str, str] | None = None) -> str:
    """The data page: the registry's table, then ``samples`` ({dataset: image path relative to
    the page}, from :func:`write_samples`)."""
    rows = [[d.name, d.source, d.size, d.licence, d.stands_for, d.split,
             ", ".join(f"{{doc}}`{c} <{c}>`" for c in d.chapters),
             "yes" if d.embedded else "no (`ADLIB_DATA`)"] for d in DATASETS]
    parts = [
        "# Data",
        "Every dataset the chapters use. Nothing is downloaded at run time: embedded data come "
        "with installed packages or from generators in `adlib.data`; real data are read from the "
        "folder in `ADLIB_DATA`. This page is generated from `adlib.data.registry`; each "
        "chapter's `results.json` records the exact sizes and checksums of what it used.",
        tables.markdown(["dataset", "source", "size", "licence", "stands in for", "split", "chapters",
                         "embedded"], rows)]
    if samples:
        parts += ["## What the images look like",
                  "Normal images, then defective ones with the true defect region outlined in red (the "
                  "benchmark's 128-pixel grey versions; chapters may use other sizes or colour)."]
        parts += [f"![{name}: normal and defective images]({path})" for name, path in samples.items()]
    return "\n\n".join(parts) + "\n"


def sample_sets(data_root: str | None = None, size: int = 128) -> list[tuple]:
    """(name, normal images, defective images, their masks, titles) of every embedded dataset and of
    each MVTec-layout category under ``data_root``: a few images each, for the data page."""
    from adlib.data import oneclass, synthetic

    out = []
    for make in (synthetic.chess, synthetic.noise):
        s = make(n_normal=2, n_anomalous=3, size=size, seed=0)
        out.append((f"{s.name} (synthetic)", s.normal, s.anomalous, s.masks, DEFECT_TITLES))
    sets = benchmark.embedded_sets(list(benchmark.EMBEDDED), size, n_train=2, n_test=6)
    if data_root:
        sets += benchmark.folder_sets(data_root, size, n_train=2, n_test_per_type=1)
    for b in sets:
        defective = np.flatnonzero(b.labels == 1)[:3]
        out.append((b.name, b.train[:2], b.test[defective], None if b.masks is None else b.masks[defective],
                    DEFECT_TITLES))
    digits = oneclass.mnist_subset()
    zeros, others = np.flatnonzero(digits.train_y == 0)[:2], [int(np.flatnonzero(digits.train_y == k)[0]) for k in (1, 2, 3)]
    out.append(("MNIST 5k subset (one class normal in turn, here 0; the other digits anomalous)",
                digits.train_x[zeros], digits.train_x[others], None, ("normal (0)", "anomalous")))
    return out


def write_samples(folder: Path, data_root: str | None = None) -> dict[str, str]:
    """One JPEG per dataset of :func:`sample_sets` into ``folder``; {name: path relative to its parent}."""
    import matplotlib.pyplot as plt

    from adlib import plots

    plots.use_style()
    written = {}
    for name, normal, defective, masks, titles in sample_sets(data_root):
        fig = plots.samples_figure(name, normal, defective, masks, labels=titles)
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        path = folder / f"{slug}.jpg"
        folder.mkdir(parents=True, exist_ok=True)
        # display choice: quality 85, the usual web setting (a sample picture; nothing is measured on it)
        fig.savefig(path, format="jpg", pil_kwargs={"quality": 85}, facecolor="white")
        plt.close(fig)
        written[name] = f"{folder.name}/{path.name}"
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit(__doc__)
    out = Path(args[0])
    samples = write_samples(out.parent / "data_samples", os.environ.get("ADLIB_DATA") or None)
    atomic_write_bytes(out, data_page(samples).encode())


if __name__ == "__main__":
    main()
