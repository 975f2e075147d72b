"""One-class baselines of Zhu et al.'s Table 1 that we can run, plus a linear floor.

- :class:`DeepSVDD` — Ruff et al.'s one-class Deep SVDD: a bias-free LeNet-style network
  (batch norm without affine parameters, as in the reference implementation
  ``lukasruff/Deep-SVDD-PyTorch``) whose outputs are pulled to a fixed centre c; the score
  is the squared distance to c.
- :func:`ocsvm_scores` — scikit-learn's one-class SVM (RBF kernel) on raw pixels.
- :func:`pca_scores` — the PCA reconstruction residual (scikit-learn), the floor the papers
  omit.

The CAE and the RotNet score live in :mod:`adlib.models.zhu` (they share its encoder).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.svm import OneClassSVM
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

    def train_step(self, x: torch.Tensor, optimizers) -> dict[str, float]:
        (optimizer,) = optimizers
        optimizer.zero_grad(set_to_none=True)
        loss = ((self(x) - self.center) ** 2).sum(1).mean()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

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


def _flat(x) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float64)


def ocsvm_scores(train, test, nu: float = 0.1, gamma: str | float = "scale") -> np.ndarray:
    """Anomaly scores (minus the decision function) of an RBF one-class SVM fitted on ``train``."""
    model = OneClassSVM(kernel="rbf", nu=nu, gamma=gamma).fit(_flat(train))
    return -model.decision_function(_flat(test))


def pca_scores(train, test, n_components: float | int = 0.9, seed: int = 0) -> tuple[np.ndarray, int]:
    """Squared residual of each test image after projection on the training set's principal
    subspace; ``n_components`` < 1 is the share of variance kept. Returns (scores, k)."""
    train, test = _flat(train), _flat(test)
    if isinstance(n_components, float) and n_components >= 1:
        n_components = int(n_components)
    pca = PCA(n_components=n_components, svd_solver="full", random_state=seed).fit(train)
    recon = pca.inverse_transform(pca.transform(test))
    return ((test - recon) ** 2).mean(1), int(pca.n_components_)
