"""The small interface every reconstruction model in adlib shares: fit / anomaly_map / score."""

from __future__ import annotations

import torch
from torch import nn

from adlib import precision as precisions
from adlib import training


class Autoencoder(nn.Module):
    """Base class: subclasses define ``forward`` (returns the reconstruction) and ``loss``.

    - ``fit(data, ...)`` trains with the shared loop in :mod:`adlib.training`;
    - ``anomaly_map(x)`` is the per-pixel squared residual (x - x̂)², averaged over channels;
    - ``score(x)`` is one number per image, the mean of its anomaly map.

    ``loss`` returns the loss and a dict of 0-dim tensors to log (``training.fit`` reads them
    back in bulk). ``train_step`` runs it under the training precision ``self.precision``
    (set by ``training.fit``; float32 outside training).
    """

    precision = "fp32"
    bf16_safe = True       # False: bfloat16 hurts this model's loss; precision="auto" keeps fp32

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = torch.mean((self(x).float() - x) ** 2)
        return loss, {"loss": loss.detach()}

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.parameters(), lr=lr)]

    def train_step(self, batch: training.Batch, optimizers: list[torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """One optimiser step on ``loss(batch)``; a tuple batch is passed as ``loss(*batch)``, a
        dict as ``loss(**batch)`` (input, target, condition...)."""
        (optimizer,) = optimizers
        optimizer.zero_grad(set_to_none=True)
        args, kwargs = ((), batch) if isinstance(batch, dict) else (
            (batch,) if isinstance(batch, torch.Tensor) else tuple(batch), {})
        device = next(iter(kwargs.values()) if kwargs else iter(args)).device
        with precisions.autocast(device, self.precision):
            loss, logs = self.loss(*args, **kwargs)
        loss.backward()
        optimizer.step()
        return logs

    def fit(self, data: training.BatchSource, **kwargs) -> training.History:
        return training.fit(self, data, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Reconstructions of ``x`` (N, C, H, W) in eval mode, batched, returned on the CPU."""
        self.eval()
        out = [self(chunk.to(self.device)).float().cpu() for chunk in torch.split(x, batch_size)]
        return torch.cat(out) if out else x.new_zeros((0, *x.shape[1:]))

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, H, W) squared residual averaged over channels (Schneider et al., eq. 1)."""
        return ((x - self.reconstruct(x, batch_size)) ** 2).mean(dim=1)

    @torch.no_grad()
    def score(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N,) mean squared reconstruction error per image."""
        return self.anomaly_map(x, batch_size).flatten(1).mean(dim=1)
