"""The one training loop every autoencoder in adlib shares.

A model brings ``configure_optimizers(lr)`` and ``train_step(batch, optimizers)`` (see
:class:`adlib.models.base.Autoencoder`); this loop brings seeding, device placement, the
training precision (:mod:`adlib.precision`), minibatch sampling, a tqdm progress bar, the loss
history, snapshots and the NaN guard.

``train_step`` returns its losses as 0-dim tensors (or floats): the loop keeps them on the
device and reads them back every :data:`READ_EVERY` steps and at the end, so a GPU is not
stopped after every step to copy one number to the host.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Union

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from adlib import precision as precisions
from adlib.runtime import seed_everything

# Training data is ready samples, minibatches drawn at random with one index for every part: a
# tensor, a tuple of tensors (input, target, condition...) or a dict of them, all of one length;
# or a function drawing one minibatch in any of those forms, e.g. random crops from a few large
# images. A model's ``train_step`` gets the minibatch in the form it was given.
Batch = Union[torch.Tensor, tuple, dict]
BatchSource = Union[Batch, Callable[[torch.Generator, int], Batch]]
READ_EVERY = 50        # steps between read-backs of the losses (and NaN checks)


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class Convergence:
    """Train until converged instead of for a fixed number of steps (``iterations`` is then a cap).

    Every ``every`` steps ``monitor(model)`` is read (lower is better; in eval mode, without
    gradients; default: the mean training loss since the last reading). When it has not
    improved by ``min_improvement`` (a share of its best value) for ``patience`` readings, the
    learning rate is cut by ``factor`` (at most ``lr_cuts`` times, as torch's
    ReduceLROnPlateau); after the last cut the next plateau stops training. The first
    ``warmup`` steps raise the learning rate linearly from a tenth of its value. The rule
    adapts to the model and data: no step count is chosen for a dataset."""

    monitor: Callable[[torch.nn.Module], float] | None = None
    every: int = 50
    patience: int = 3
    min_improvement: float = 0.01
    factor: float = 0.3
    lr_cuts: int = 2
    warmup: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.patience < 1 or not 0 < self.factor < 1 or self.lr_cuts < 0 or self.warmup < 0:
            raise ValueError(f"Convergence: every={self.every}, patience={self.patience} must be >= 1, "
                             f"factor={self.factor} in (0, 1), lr_cuts={self.lr_cuts} and warmup={self.warmup} >= 0")


@dataclass
class History:
    """Per-iteration losses (one dict per iteration), the training wall time, the precision
    it ran in ("fp32" or "bf16") and, when ``auto`` chose it, the float32 step's GFLOP. Under a
    :class:`Convergence` rule: the monitored values (step, value), the steps where the
    learning rate was cut and the step where training stopped (None: it ran to the cap)."""

    losses: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    iterations: int = 0
    precision: str = "fp32"
    step_gflop: float | None = None
    monitored: list[tuple[int, float]] = field(default_factory=list)
    lr_cut_at: list[int] = field(default_factory=list)
    stopped_at: int | None = None

    def series(self, key: str = "loss") -> list[float]:
        return [row[key] for row in self.losses if key in row]


def show_progress() -> bool:
    """Progress bars on, unless ``ADLIB_PROGRESS=0`` (set by :mod:`adlib.execute`, so executed
    notebooks don't store finished bars)."""
    return os.environ.get("ADLIB_PROGRESS", "1") != "0"


def fit(model, data: BatchSource, *, iterations: int, batch_size: int = 32, lr: float = 1e-3,
        seed: int = 0, device: torch.device | str = "cpu", precision: str = "auto",
        progress: bool | None = None, desc: str | None = None,
        callback: Callable[[int, torch.nn.Module], None] | None = None,
        callback_every: int = 0, converge: Convergence | None = None) -> History:
    """Train ``model`` for ``iterations`` minibatch steps (with ``converge``: until converged,
    at most ``iterations``, see :class:`Convergence`) and return its :class:`History`.

    ``precision`` is "fp32", "bf16" (autocast, channels-last) or "auto" (bf16 where it was
    measured faster, see :mod:`adlib.precision`); the model is left in float32 memory layout
    and ``model.precision`` back at "fp32", so scoring is float32 whatever trained it.
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
    precisions.check(precision)
    device = torch.device(device)
    seed_everything(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    model.to(device)
    if callable(data):
        def draw(gen: torch.Generator, n: int) -> Batch:
            return _on(data(gen, n), device, layout)
    else:
        samples, size = _on(data, device, torch.contiguous_format), _length(data)

        def draw(gen: torch.Generator, n: int) -> Batch:
            index = torch.randint(size, (n,), generator=gen).to(device)
            return _on(_map(lambda part: part[index], samples), device, layout)

    optimizers = model.configure_optimizers(lr)
    history = History()

    def use(mode: str) -> None:
        nonlocal precision, layout
        precision, layout = mode, precisions.memory_format(mode)
        model.to(memory_format=layout)
        model.precision = history.precision = mode

    layout = torch.contiguous_format
    if precision != "auto":
        use(precision)

    def snapshot(step: int) -> None:
        if callback is not None:
            model.eval()
            training_precision, model.precision = model.precision, "fp32"
            with torch.no_grad():
                callback(step, model)
            model.precision = training_precision
            model.train()

    pending: list[dict] = []           # losses not read back yet (tensors on the device)
    bases = [[group["lr"] for group in optimizer.param_groups] for optimizer in optimizers]
    lr_scale = 1.0                     # the cuts so far (Convergence)

    def set_lr(scale: float) -> None:
        for optimizer, base in zip(optimizers, bases):
            for group, value in zip(optimizer.param_groups, base):
                group["lr"] = value * scale

    best, stale = math.inf, 0

    def converged(step: int) -> bool:
        """Read the monitor; cut the learning rate or stop on a plateau (True: stop)."""
        nonlocal best, stale, lr_scale
        if converge.monitor is None:
            recent = history.losses[-converge.every:]
            value = sum(row["loss"] for row in recent) / len(recent)
        else:
            model.eval()
            training_precision, model.precision = model.precision, "fp32"
            with torch.no_grad():
                value = float(converge.monitor(model))
            model.precision = training_precision
            model.train()
        history.monitored.append((step, value))
        if best == math.inf or value < best - converge.min_improvement * abs(best):
            best, stale = value, 0
            return False
        best, stale = min(best, value), stale + 1
        if stale < converge.patience:
            return False
        if len(history.lr_cut_at) >= converge.lr_cuts:
            return True
        lr_scale *= converge.factor
        set_lr(lr_scale)
        history.lr_cut_at.append(step)
        stale = 0
        return False

    def read_back(bar) -> None:
        rows = _to_host(pending)
        for offset, row in enumerate(rows):
            if not all(math.isfinite(v) for v in row.values()):
                step = len(history.losses) + offset + 1
                raise DivergedError(
                    f"{type(model).__name__}: loss became {row} at iteration {step}; lower the "
                    f"learning rate (lr={lr}) or check the input scaling (images must be in [0, 1])")
        history.losses.extend(rows)
        pending.clear()
        if rows:
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4g}", refresh=False)

    model.train()
    snapshot(0)
    start = time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc=desc or type(model).__name__,
               disable=not progress, mininterval=1.0, leave=False)
    try:
        for step in bar:
            if converge is not None and step <= converge.warmup:
                set_lr(lr_scale * (0.1 + 0.9 * step / converge.warmup))
            batch = draw(generator, batch_size)
            if precision == "auto":
                # the first step runs in float32 and is counted; its cost decides the rest
                with FlopCounterMode(display=False) as counter:
                    pending.append(model.train_step(batch, optimizers))
                history.step_gflop = counter.get_total_flops() / 1e9
                use(precisions.choose(model, history.step_gflop, device))
            else:
                pending.append(model.train_step(batch, optimizers))
            if step % READ_EVERY == 0:
                read_back(bar)
            if callback_every and step % callback_every == 0:
                snapshot(step)
            if converge is not None and step % converge.every == 0 and step < iterations:
                read_back(bar)
                if converged(step):
                    history.stopped_at = step
                    break
        read_back(bar)
    finally:
        model.precision = "fp32"
        model.to(memory_format=torch.contiguous_format)
        set_lr(1.0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - start
    history.iterations = len(history.losses)
    model.eval()
    return history


def _map(fn: Callable[[torch.Tensor], torch.Tensor], batch: Batch) -> Batch:
    """``fn`` applied to every tensor of a batch, its form (tensor, tuple, dict) kept."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {key: fn(part) for key, part in batch.items()}
    if isinstance(batch, (tuple, list)):
        return tuple(fn(part) for part in batch)
    raise TypeError(f"a training batch must be a tensor, a tuple or a dict of tensors, got {type(batch).__name__}")


def _length(data: Batch) -> int:
    parts = [data] if isinstance(data, torch.Tensor) else list(data.values() if isinstance(data, dict) else data)
    if not parts or not all(isinstance(part, torch.Tensor) for part in parts):
        raise TypeError("training data must be a tensor, a tuple or dict of tensors, or a function drawing a batch")
    lengths = {len(part) for part in parts}
    if len(lengths) != 1:
        raise ValueError(f"the parts of the training data differ in length ({sorted(lengths)}); each part "
                         "needs one row per sample")
    if 0 in lengths:
        raise ValueError("no training samples: the training set is empty")
    return lengths.pop()


def _on(batch: Batch, device: torch.device, layout: torch.memory_format) -> Batch:
    """The batch on ``device``, its images (4-D tensors) in the training precision's memory layout."""
    return _map(lambda part: part.to(device).contiguous(memory_format=layout) if part.ndim == 4
                else part.to(device), batch)


def _to_host(rows: list[dict]) -> list[dict]:
    """Per-step loss dicts of 0-dim tensors (or floats) → floats, one device copy per key."""
    if not rows:
        return []
    columns = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        columns[key] = (torch.stack([v.detach().float() for v in values]).cpu().tolist()
                        if all(isinstance(v, torch.Tensor) for v in values) else [float(v) for v in values])
    return [{key: column[i] for key, column in columns.items()} for i in range(len(rows))]
