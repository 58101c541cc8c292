"""The embedded "motif order" data set and its variants for each task type.

Every variant shares one generator: correlated noise and a distractor sinusoid per channel, with
a motif inserted on a random channel in each half of the sequence. Only what is asked about the
motifs differs:

- multiclass: the ordered pair (first motif, second motif), ``num_motifs**2`` classes;
- binary: whether the pair is one particular ordered pair (motif 0, then motif 1), with a share
  ``positive_fraction`` of positives; the reversed pair (1, 0) is among the negatives, so order
  matters;
- multilabel: which motifs occur anywhere (``num_motifs`` labels); each half holds a motif with
  probability 0.8, so a sequence has zero, one or two labels;
- regression: two targets, the gap between the two motifs' starts (in steps) and the first
  motif's amplitude minus the second's.

Identical arguments give identical output, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["generate_synthetic", "synthetic_task", "SyntheticTask", "motif_shapes",
           "REGRESSION_TARGETS"]

REGRESSION_TARGETS = ["gap", "amplitude_difference"]
_SLOT_FILL = 0.8  # multilabel: probability that a half of the sequence holds a motif


def motif_shapes(num_motifs: int, length: int) -> np.ndarray:
    """Distinct unit-amplitude shapes [M, L]: bump, one sine cycle, square pulse, ramp, ..."""
    t = np.linspace(0.0, 1.0, length)
    shapes = [
        np.exp(-((t - 0.5) ** 2) / 0.02),           # bump
        np.sin(2 * np.pi * t),                      # one sine cycle
        np.where((t > 0.2) & (t < 0.8), 1.0, -0.3),  # square pulse
        2 * t - 1,                                  # ramp
        np.sin(4 * np.pi * t) * np.exp(-((t - 0.5) ** 2) / 0.08),  # wavelet
        -np.exp(-((t - 0.5) ** 2) / 0.02),          # dip
    ]
    return np.stack(shapes[:num_motifs]).astype(np.float32)


# choose(rng, first, second) -> (first, second, present [2, N] bool or None)
Chooser = Callable[[np.random.Generator, np.ndarray, np.ndarray],
                   tuple[np.ndarray, np.ndarray, np.ndarray | None]]


@dataclass
class _Motifs:
    x: np.ndarray  # [N, T, C] float32
    first: np.ndarray  # [N] motif index of the first half
    second: np.ndarray  # [N]
    present: np.ndarray | None  # [2, N] bool: whether each half holds its motif; None = both
    starts: np.ndarray  # [2, N] start step of each half's motif
    amps: np.ndarray  # [2, N] float32 amplitude of each half's motif


def _generate(num_samples: int, seq_len: int, num_channels: int, num_motifs: int, noise: float,
              seed: int, choose: Chooser | None = None) -> _Motifs:
    rng = np.random.Generator(np.random.PCG64(seed))
    n, t_len, c = num_samples, seq_len, num_channels
    # AR(1) background with unit marginal variance (phi = 0.7).
    phi = 0.7
    eps = rng.standard_normal((n, t_len, c), dtype=np.float32) * np.float32(np.sqrt(1 - phi**2))
    x = np.empty_like(eps)
    x[:, 0] = rng.standard_normal((n, c), dtype=np.float32)
    for step in range(1, t_len):
        x[:, step] = phi * x[:, step - 1] + eps[:, step]
    x *= np.float32(noise)
    freq = rng.uniform(2.0, 10.0, size=(n, 1, c)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, c)).astype(np.float32)
    tt = np.arange(t_len, dtype=np.float32)[None, :, None] / t_len
    x += np.float32(0.3) * np.sin(2 * np.pi * freq * tt + phase)

    motif_len = max(3, t_len // 6)
    shapes = motif_shapes(num_motifs, motif_len)
    first = rng.integers(0, num_motifs, size=n)
    second = rng.integers(0, num_motifs, size=n)
    present = None
    if choose is not None:
        # A separate stream, so that the variants share the multiclass set's noise and positions.
        first, second, present = choose(np.random.Generator(np.random.PCG64([seed, 1])),
                                        first, second)
    half = t_len // 2
    rows = np.arange(n)
    offsets = np.arange(motif_len)
    starts, amps = [], []
    for slot, (which, lo, hi) in enumerate(((first, 0, half - motif_len),
                                            (second, half, t_len - motif_len))):
        start = rng.integers(lo, hi + 1, size=n)
        chan = rng.integers(0, c, size=n)
        amp = rng.uniform(1.5, 2.5, size=n).astype(np.float32)
        if present is not None:
            amp = amp * present[slot]
        steps = start[:, None] + offsets[None, :]
        x[rows[:, None], steps, chan[:, None]] += amp[:, None] * shapes[which]
        starts.append(start)
        amps.append(amp)
    return _Motifs(x, first, second, present, np.stack(starts), np.stack(amps))


def generate_synthetic(num_samples: int, seq_len: int, num_channels: int, num_motifs: int,
                       noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multichannel "motif order" classification: identical output for identical arguments.

    Each sequence is correlated noise plus a distractor sinusoid per channel, with two motifs
    inserted on random channels: one in the first half, one in the second. The label is the
    ordered pair (first motif, second motif), so ``num_motifs**2`` classes; telling them apart needs
    shape detection under noise and memory of what came first, which is what makes learning rate,
    width and depth matter.

    Returns:
        ``x`` [N, T, C] float32 and ``y`` [N] int64.
    """
    m = _generate(num_samples, seq_len, num_channels, num_motifs, noise, seed)
    return m.x, (m.first * num_motifs + m.second).astype(np.int64)


@dataclass
class SyntheticTask:
    """A synthetic data set for one task type, in the form ``from_arrays`` takes."""

    x: np.ndarray  # [N, T, C] float32
    y: np.ndarray  # multiclass: [N] class names; binary: [N] 0/1; multilabel: [N, K] 0/1;
    #                regression: [N, 2] float (REGRESSION_TARGETS)
    label_names: list[str] | None  # multilabel label names / regression target names


def synthetic_task(task: str, num_samples: int, seq_len: int, num_channels: int,
                   num_motifs: int, noise: float, seed: int,
                   positive_fraction: float = 0.05) -> SyntheticTask:
    """The synthetic data set for ``task`` (one of multiclass, binary, multilabel, regression).

    The multiclass set is ``generate_synthetic``'s, bit for bit, with class names ``m0>m1``.
    ``positive_fraction`` is the binary variant's share of positives (rounded to whole
    sequences, at least one).
    """
    args = (num_samples, seq_len, num_channels, num_motifs, noise, seed)
    if task == "multiclass":
        x, y = generate_synthetic(*args)
        names = np.asarray([f"m{a}>m{b}" for a in range(num_motifs) for b in range(num_motifs)])
        return SyntheticTask(x, names[y], None)
    if task == "binary":
        def choose(rng, first, second):
            n = len(first)
            positive = np.zeros(n, bool)
            positive[rng.permutation(n)[:max(1, int(round(positive_fraction * n)))]] = True
            # Negatives: any other ordered pair, uniformly; (1, 0) among them.
            target = 1  # the pair (motif 0, motif 1)
            other = rng.integers(0, num_motifs**2 - 1, size=n)
            pair = np.where(positive, target, other + (other >= target))
            return pair // num_motifs, pair % num_motifs, None

        m = _generate(*args, choose=choose)
        y = ((m.first == 0) & (m.second == 1)).astype(np.int64)
        return SyntheticTask(m.x, y, None)
    if task == "multilabel":
        def choose(rng, first, second):
            present = rng.random((2, len(first))) < _SLOT_FILL
            return first, second, present

        m = _generate(*args, choose=choose)
        y = np.zeros((num_samples, num_motifs), np.int64)
        for slot, which in enumerate((m.first, m.second)):
            hit = m.present[slot]
            y[np.flatnonzero(hit), which[hit]] = 1
        return SyntheticTask(m.x, y, [f"m{k}" for k in range(num_motifs)])
    if task == "regression":
        m = _generate(*args)
        y = np.stack([m.starts[1] - m.starts[0], m.amps[0] - m.amps[1]], axis=1)
        return SyntheticTask(m.x, y.astype(np.float64), list(REGRESSION_TARGETS))
    raise ValueError(f"unknown task type {task!r}")
