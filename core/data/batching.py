"""Training and evaluation batches, in tensor or DataLoader mode, in random or balanced order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from core.config import LoaderConfig
from core.data.dataset import SequenceData

__all__ = ["Batch", "BatchSource", "eval_batches", "balanced_weights"]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def balanced_weights(y: torch.Tensor) -> torch.Tensor:
    """Per-sequence draw weights 1 / (count of its class): [N] float64 on the CPU.

    Args:
        y: [N] class indices (multiclass int64) or 0/1 (binary float32).

    Raises:
        ValueError: ``y`` is not one class per sequence (multilabel, regression).
    """
    if y.ndim != 1:
        raise ValueError("loader.sampler balanced needs one class per sequence (multiclass or "
                         f"binary targets), got targets of shape {tuple(y.shape)}")
    classes = y.detach().cpu().long()
    counts = torch.bincount(classes).double()
    return 1.0 / counts[classes]


class BatchSource:
    """Training batches of one split for one epoch per iteration, in tensor or DataLoader mode.

    Tensor mode keeps the split on the device, gathers it once per epoch in an order drawn from
    ``generator`` (a CPU ``torch.Generator`` whose state is saved in checkpoints, so a resumed run
    sees the same data order) and yields contiguous slices. DataLoader mode draws its order from
    the same generator through its sampler.

    The order (``loader.sampler``): ``random`` is a permutation, each sequence once per epoch;
    ``balanced`` draws N sequences with replacement, each with probability proportional to
    1 / (count of its class), so every class is drawn equally often on average. Either order
    comes from the generator alone, so a run resumed with the saved generator state draws the
    same epochs.
    """

    def __init__(self, split: SequenceData, cfg: LoaderConfig, device: torch.device,
                 batch_size: int, generator: torch.Generator):
        self.cfg = cfg
        self.device = device
        self.batch_size = batch_size
        self.generator = generator
        self.n = len(split)
        self.weights = balanced_weights(split.y) if cfg.sampler == "balanced" else None
        self._loader = None
        if cfg.mode == "tensor":
            self.split = split.to(device)
        else:
            self.split = split
            self._loader = self._make_loader(split)

    def _make_loader(self, split: SequenceData):
        from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

        tensors = [split.x, split.y] + ([split.lengths] if split.lengths is not None else [])
        workers = self.cfg.num_workers
        kwargs = {}
        if workers > 0:
            kwargs["persistent_workers"] = self.cfg.persistent_workers
            kwargs["worker_init_fn"] = _seed_worker
            if self.cfg.prefetch_factor is not None:
                kwargs["prefetch_factor"] = self.cfg.prefetch_factor
        if self.weights is not None:
            kwargs["sampler"] = WeightedRandomSampler(self.weights, self.n, replacement=True,
                                                      generator=self.generator)
        else:
            kwargs["shuffle"] = True
        return DataLoader(TensorDataset(*tensors), batch_size=self.batch_size,
                          generator=self.generator, num_workers=workers,
                          pin_memory=self.cfg.pin_memory and self.device.type == "cuda",
                          drop_last=self.cfg.drop_last, **kwargs)

    def num_batches(self) -> int:
        if self.cfg.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def epoch_order(self) -> torch.Tensor:
        """The next epoch's indices [N] (CPU int64), drawn from the generator (tensor mode)."""
        if self.weights is not None:
            return torch.multinomial(self.weights, self.n, replacement=True,
                                     generator=self.generator)
        return torch.randperm(self.n, generator=self.generator)

    def __iter__(self) -> Iterator[Batch]:
        if self._loader is not None:
            nb = self.device.type == "cuda"
            for item in self._loader:
                x, y = item[0].to(self.device, non_blocking=nb), item[1].to(self.device,
                                                                            non_blocking=nb)
                lengths = item[2].to(self.device, non_blocking=nb) if len(item) > 2 else None
                yield x, y, lengths
            return
        # One gather per epoch, then contiguous slices: no per-step indexing kernels.
        perm = self.epoch_order().to(self.device)
        s = self.split
        x, y = s.x.index_select(0, perm), s.y.index_select(0, perm)
        lengths = None if s.lengths is None else s.lengths.index_select(0, perm)
        for i in range(self.num_batches()):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield x[sl], y[sl], None if lengths is None else lengths[sl]


def eval_batches(split: SequenceData, batch_size: int, device: torch.device) -> Iterator[Batch]:
    """Batches of a split in order; the split may live on the host or the device."""
    for i in range(0, len(split), batch_size):
        sl = slice(i, i + batch_size)
        yield (split.x[sl].to(device, non_blocking=True), split.y[sl].to(device, non_blocking=True),
               None if split.lengths is None else split.lengths[sl].to(device, non_blocking=True))


def _seed_worker(worker_id: int) -> None:
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
