"""Deep SVDD, a one-class baseline of Zhu et al.'s Table 1 (the detector ``deep_svdd``).

:class:`DeepSVDD` — Ruff et al.'s one-class Deep SVDD: a bias-free LeNet-style network
(batch norm without affine parameters, as in the reference implementation
``lukasruff/Deep-SVDD-PyTorch``) whose outputs are pulled to a fixed centre c; the score is
the squared distance to c.

The CAE and the RotNet score live in :mod:`adlib.models.zhu` (they share its encoder); the
OC-SVM and the PCA floor are the pixel baselines ``ocsvm`` and ``pca`` of
:mod:`adlib.detectors.baselines`.
"""

from __future__ import annotations

import torch
from torch import nn

from adlib import training


class LeNetSVDD(nn.Module):
    """The reference implementation's bias-free LeNet: MNIST variant (8, 4 channels, 32-d
    output) for grey images, CIFAR-10 variant (32, 64, 128 channels, 128-d) for colour."""

    def __init__(self, in_channels: int = 1, size: int = 32):
        super().__init__()
        if in_channels == 1:
            widths, self.rep_dim = (8, 4), 32
        else:
            widths, self.rep_dim = (32, 64, 128), 128
        layers, channels = [], in_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 5, padding=2, bias=False),
                       nn.BatchNorm2d(width, eps=1e-4, affine=False), nn.LeakyReLU(0.01),
                       nn.MaxPool2d(2, 2)]
            channels = width
            size //= 2
        if size < 1:
            raise ValueError(f"input of side {size} is too small for the Deep SVDD LeNet")
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * size * size, self.rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class DeepSVDD(nn.Module):
    """One-class Deep SVDD: minimise mean ‖φ(x) − c‖² over the normal training images.

    c is the mean initial output on the training data, with coordinates closer to 0 than
    ``eps`` pushed to ±eps (as in the reference implementation, to avoid trivial
    solutions). Adam with weight decay; no autoencoder pre-training here.
    """

    def __init__(self, in_channels: int = 1, size: int = 32, weight_decay: float = 5e-7,
                 eps: float = 0.1):
        super().__init__()
        self.net = LeNetSVDD(in_channels, size)
        self.register_buffer("center", torch.zeros(self.net.rep_dim))
        self.weight_decay, self.eps = weight_decay, eps

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def init_center(self, data: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        self.train()                      # as the reference: forward pass in train mode
        outputs = torch.cat([self(chunk.to(self.device)) for chunk in torch.split(data, batch_size)])
        c = outputs.mean(0)
        c[(c.abs() < self.eps) & (c < 0)] = -self.eps
        c[(c.abs() < self.eps) & (c >= 0)] = self.eps
        self.center.copy_(c)
        return c

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.net.parameters(), lr=lr, weight_decay=self.weight_decay)]

    def train_step(self, x: torch.Tensor, optimizers) -> dict[str, torch.Tensor]:
        (optimizer,) = optimizers
        optimizer.zero_grad(set_to_none=True)
        loss = ((self(x) - self.center) ** 2).sum(1).mean()
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    def fit(self, data: torch.Tensor, device: torch.device | str = "cpu", seed: int = 0,
            **kwargs) -> training.History:
        torch.manual_seed(seed)
        self.to(device)
        self.init_center(data)
        return training.fit(self, data, device=device, seed=seed, **kwargs)

    @torch.no_grad()
    def score(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        self.eval()
        return torch.cat([((self(chunk.to(self.device)) - self.center) ** 2).sum(1).cpu()
                          for chunk in torch.split(x, batch_size)])

