"""The one training loop every autoencoder in adlib shares.

A model brings ``configure_optimizers(lr)`` and ``train_step(batch, optimizers)`` (see
:class:`adlib.models.base.Autoencoder`); this loop brings seeding, device placement,
minibatch sampling, a tqdm progress bar, the loss history, snapshots and the NaN guard.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Union

import torch
from tqdm.auto import tqdm

from adlib.runtime import seed_everything

# Training data is either a tensor of ready samples (minibatches drawn at random) or a
# function drawing one minibatch, e.g. random crops from a few large images.
BatchSource = Union[torch.Tensor, Callable[[torch.Generator, int], torch.Tensor]]


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class History:
    """Per-iteration losses (one dict per iteration) and the training wall time."""

    losses: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    iterations: int = 0

    def series(self, key: str = "loss") -> list[float]:
        return [row[key] for row in self.losses if key in row]


def show_progress() -> bool:
    """Progress bars on, unless ``ADLIB_PROGRESS=0`` (set by :mod:`adlib.execute`, so executed
    notebooks don't store finished bars)."""
    return os.environ.get("ADLIB_PROGRESS", "1") != "0"


def fit(model, data: BatchSource, *, iterations: int, batch_size: int = 32, lr: float = 1e-3,
        seed: int = 0, device: torch.device | str = "cpu", progress: bool | None = None,
        desc: str | None = None,
        callback: Callable[[int, torch.nn.Module], None] | None = None,
        callback_every: int = 0) -> History:
    """Train ``model`` for ``iterations`` minibatch steps and return its :class:`History`.

    ``callback(iteration, model)`` runs before the first step and then every
    ``callback_every`` steps (in eval mode, without gradients), e.g. to keep reconstructions
    over training. Raises :class:`DivergedError` with advice when the loss is not finite.
    ``progress=None`` shows a tqdm bar unless ``ADLIB_PROGRESS=0`` (set by
    :mod:`adlib.execute`, so executed notebooks don't store dozens of finished bars).
    """
    if progress is None:
        progress = show_progress()
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    seed_everything(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    model.to(device)
    if isinstance(data, torch.Tensor):
        if len(data) == 0:
            raise ValueError("no training samples: the training set is empty")
        samples = data.to(device)

        def draw(gen: torch.Generator, n: int) -> torch.Tensor:
            index = torch.randint(len(samples), (n,), generator=gen)
            return samples[index.to(device)]
    else:
        def draw(gen: torch.Generator, n: int) -> torch.Tensor:
            return data(gen, n).to(device)

    optimizers = model.configure_optimizers(lr)
    history = History()

    def snapshot(step: int) -> None:
        if callback is not None:
            model.eval()
            with torch.no_grad():
                callback(step, model)
            model.train()

    model.train()
    snapshot(0)
    start = time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc=desc or type(model).__name__,
               disable=not progress, mininterval=1.0, leave=False)
    for step in bar:
        logs = model.train_step(draw(generator, batch_size), optimizers)
        if not all(math.isfinite(v) for v in logs.values()):
            raise DivergedError(
                f"{type(model).__name__}: loss became {logs} at iteration {step}; lower the "
                f"learning rate (lr={lr}) or check the input scaling (images must be in [0, 1])")
        history.losses.append(logs)
        if step % 25 == 0:
            bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)
        if callback_every and step % callback_every == 0:
            snapshot(step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - start
    history.iterations = iterations
    model.eval()
    return history
