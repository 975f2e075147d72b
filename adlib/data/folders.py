"""Loaders for real data folders: the MVTec AD layout.

``<category>/train/good/*``, ``<category>/test/{good,<defect>}/*`` and
``<category>/ground_truth/<defect>/<stem>_mask.png``; images png/jpg/bmp of any size,
grey or colour. Every problem (missing folder, unreadable image, mask of the wrong size or
missing) raises one error that names the file and the fix. Hidden files and folders (names
starting with '.') are skipped everywhere (:func:`hidden`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MVTEC_LAYOUT = ("<category>/train/good/*.png|jpg|bmp, <category>/test/good/*, "
                "<category>/test/<defect>/*, <category>/ground_truth/<defect>/<stem>_mask.png")


class DataLayoutError(FileNotFoundError):
    """A data folder does not have the layout a loader expects."""


def hidden(path: Path) -> bool:
    """The one rule for every loader: a file or folder whose name starts with '.' (e.g. the
    ``.ipynb_checkpoints`` Jupyter makes on its own, ``.DS_Store``) is not data and is skipped."""
    return path.name.startswith(".")


def subfolders(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not hidden(p))


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p))


def is_mvtec_category(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "train" / "good").is_dir() and (folder / "test").is_dir()


def find_mvtec_categories(root: str | Path) -> list[Path]:
    """MVTec-layout categories at ``root``: the root itself, or its direct sub-folders."""
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root} is not a folder; expected {MVTEC_LAYOUT}")
    if is_mvtec_category(root):
        return [root]
    return [p for p in subfolders(root) if is_mvtec_category(p)]


def read_image(path: str | Path, size: int | None = None, grey: bool = True) -> np.ndarray:
    """An image as float32 (C, H, W) in [0, 1], optionally resized to ``size``×``size``."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img = img.convert("L" if grey else "RGB")
            if size is not None:
                img = img.resize((size, size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}; replace or remove the file") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_mask(path: Path, image_path: Path, image_shape: tuple[int, int],
              size: int | None) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if size is None and img.size != (image_shape[1], image_shape[0]):
                raise ValueError(f"mask {path} is {img.size[0]}×{img.size[1]} but its image "
                                 f"{image_path} is {image_shape[1]}×{image_shape[0]}")
            if size is not None:
                with Image.open(image_path) as source:
                    if source.size != img.size:
                        raise ValueError(
                            f"mask {path} is {img.size[0]}×{img.size[1]} but its image "
                            f"{image_path} is {source.size[0]}×{source.size[1]}")
                img = img.convert("L").resize((size, size), Image.NEAREST)
            return np.asarray(img.convert("L")) > 127     # masks are 0/255: mid-grey splits them, whatever resizing blurred
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read mask {path}: {err}") from None


@dataclass
class MVTecCategory:
    name: str
    root: Path
    train: np.ndarray                  # (N, C, H, W) good training images
    test: np.ndarray                   # (M, C, H, W) test images
    labels: np.ndarray                 # (M,) 0 good, 1 defective
    defect_types: list[str]            # per test image, "good" for normal ones
    masks: np.ndarray                  # (M, H, W) bool; all False for good images
    files: list[str] = field(default_factory=list)
    resized: bool = False              # images of mixed or other size were resized


def load_mvtec_category(folder: str | Path, size: int = 256, grey: bool = True,
                        max_train: int | None = None, max_test_per_type: int | None = None,
                        require_masks: bool = True) -> MVTecCategory:
    """Load one MVTec-layout category, every image resized to ``size``×``size``.

    ``max_train`` / ``max_test_per_type`` take evenly spaced subsets (deterministic) for
    quick runs. A defective image without its mask fails when ``require_masks``.
    """
    folder = Path(folder)
    if not is_mvtec_category(folder):
        raise DataLayoutError(f"{folder} is not an MVTec-layout category; expected {MVTEC_LAYOUT}")

    def subset(paths: list[Path], limit: int | None) -> list[Path]:
        if limit is None or len(paths) <= limit:
            return paths
        return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]

    train_paths = subset(images_in(folder / "train" / "good"), max_train)
    if not train_paths:
        raise DataLayoutError(f"{folder / 'train' / 'good'} holds no images ({IMAGE_SUFFIXES})")
    train = np.stack([read_image(p, size, grey) for p in train_paths])

    test_images, labels, types, masks, files = [], [], [], [], []
    type_dirs = subfolders(folder / "test")
    for type_dir in type_dirs:
        for path in subset(images_in(type_dir), max_test_per_type):
            image = read_image(path, size, grey)
            defective = type_dir.name != "good"
            if defective:
                mask_path = folder / "ground_truth" / type_dir.name / f"{path.stem}_mask.png"
                if mask_path.exists():
                    with Image.open(path) as original:
                        shape = (original.size[1], original.size[0])
                    mask = read_mask(mask_path, path, shape, size)
                elif require_masks:
                    raise DataLayoutError(f"no mask for defective image {path}: expected "
                                          f"{mask_path}")
                else:
                    mask = np.zeros((size, size), bool)
            else:
                mask = np.zeros((size, size), bool)
            test_images.append(image)
            labels.append(int(defective))
            types.append(type_dir.name)
            masks.append(mask)
            files.append(str(path.relative_to(folder)))
    if not test_images:
        raise DataLayoutError(f"{folder / 'test'} holds no images; expected {MVTEC_LAYOUT}")
    return MVTecCategory(folder.name, folder, train, np.stack(test_images), np.array(labels),
                         types, np.stack(masks), files, resized=True)
