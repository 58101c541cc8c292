"""Baselines on a seqtune NPZ with an official split: a constant predictor and a hand-written GRU.

    python benchmarks/baselines.py tests/data/japanese_vowels.npz --task multiclass
    python benchmarks/baselines.py tests/data/italy_power_demand.npz --task binary --positive 2
    python benchmarks/baselines.py tests/data/covid3month.npz --task regression --seeds 0 1 2

Both are trained on the ``split == "train"`` cases and scored on ``split == "test"``:

- constant: the majority class of train (classification; its AUROC is 0.5 by definition) or the
  train mean (regression);
- GRU: what a user writes by hand in plain PyTorch, with no seqtune code: features standardised
  with train statistics (padding excluded), a 1-layer GRU of 64 units read at each sequence's
  last valid step, a linear head, Adam (lr 1e-3), batch 16, 150 epochs, no validation split and
  no early stopping; regression targets standardised with train statistics.

Metrics come from scikit-learn: binary AUROC and accuracy (at probability 0.5), multiclass
accuracy, regression RMSE in the target's units. Prints one Markdown row per predictor.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # core.cli's flag types only

from core.cli import int_at_least  # noqa: E402

__all__ = ["GRUBaseline", "constant_predictions", "load_official", "score", "train_gru"]

TASKS = ("binary", "multiclass", "regression")


def load_official(path: str, task: str, positive: str | None = None):
    """Train and test parts of an NPZ: (x, lengths, y) each; y as class indices or floats.

    Class indices follow the sorted train labels; under ``binary`` the ``positive`` label is 1.
    """
    a = np.load(path)
    x, split = a["X"].astype(np.float32), a["split"]
    lengths = a["lengths"] if "lengths" in a.files else np.full(len(x), x.shape[1], np.int64)
    if task == "regression":
        y = a["y"].astype(np.float64)
    else:
        classes = np.unique(a["y"][split == "train"])
        if task == "binary":
            if positive is None or positive not in classes or len(classes) != 2:
                raise ValueError(f"binary needs two classes and --positive among {classes}")
            classes = np.array([c for c in classes if c != positive] + [positive])
        y = np.searchsorted(classes, a["y"]) if task == "multiclass" else \
            (a["y"] == positive).astype(np.int64)
    tr, te = split == "train", split == "test"
    return (x[tr], lengths[tr], y[tr]), (x[te], lengths[te], y[te])


def constant_predictions(y_train: np.ndarray, n_test: int, task: str) -> np.ndarray:
    """Majority-class scores (one-hot; binary: the positive rate's side) or the train mean."""
    if task == "regression":
        return np.full(n_test, y_train.mean())
    counts = np.bincount(y_train)
    if task == "binary":
        return np.full(n_test, float(counts.argmax()))   # a constant score: AUROC 0.5
    return np.tile(np.eye(len(counts))[counts.argmax()], (n_test, 1))


def score(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Test metrics: binary ``pred`` = P(positive) [N]; multiclass [N, K] scores; regression [N]."""
    if task == "binary":
        auroc = roc_auc_score(y, pred) if np.unique(pred).size > 1 else 0.5
        return {"auroc": float(auroc), "accuracy": accuracy_score(y, pred >= 0.5)}
    if task == "multiclass":
        return {"accuracy": accuracy_score(y, pred.argmax(1))}
    return {"rmse": float(np.sqrt(mean_squared_error(y, pred)))}


class GRUBaseline(nn.Module):
    """GRU read at the last valid step of each sequence, then a linear layer."""

    def __init__(self, num_features: int, num_outputs: int, hidden: int = 64):
        super().__init__()
        self.gru = nn.GRU(num_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)                                   # [B, T, H]
        last = out[torch.arange(len(x), device=x.device), lengths - 1]  # causal: padding never read
        return self.head(last)


def train_gru(train, test, task: str, seed: int, epochs: int = 150, batch_size: int = 16,
              lr: float = 1e-3, device: str = "cpu") -> np.ndarray:
    """Trains ``GRUBaseline`` on ``train`` and returns its test predictions (see ``score``).

    ``device`` ("cpu" or "cuda"): where the GRU and the data live; the same code either way.
    """
    torch.manual_seed(seed)
    (x, lens, y), (xt, lens_t, _) = train, test
    valid = np.arange(x.shape[1])[None, :] < lens[:, None]
    mean, std = x[valid].mean(0), x[valid].std(0) + 1e-8
    norm = lambda a, n: np.where((np.arange(a.shape[1])[None, :] < n[:, None])[..., None],  # noqa: E731
                                 (a - mean) / std, 0.0).astype(np.float32)
    xs, xts = torch.from_numpy(norm(x, lens)), torch.from_numpy(norm(xt, lens_t))
    ls, lts = torch.from_numpy(lens), torch.from_numpy(lens_t)
    if task == "regression":
        y_mean, y_std = y.mean(), y.std()
        ys, outputs, loss_fn = torch.tensor((y - y_mean) / y_std, dtype=torch.float32), 1, \
            nn.MSELoss()
    elif task == "binary":
        ys, outputs, loss_fn = torch.tensor(y, dtype=torch.float32), 1, nn.BCEWithLogitsLoss()
    else:
        ys, outputs, loss_fn = torch.tensor(y), int(y.max()) + 1, nn.CrossEntropyLoss()
    xs, xts, ls, lts, ys = (t.to(device) for t in (xs, xts, ls, lts, ys))
    model = GRUBaseline(x.shape[2], outputs).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xs)).to(device).split(batch_size):
            out = model(xs[idx], ls[idx])
            loss = loss_fn(out.squeeze(1) if outputs == 1 else out, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        out = model(xts, lts).cpu()
    if task == "regression":
        return out.squeeze(1).numpy() * y_std + y_mean
    if task == "binary":
        return torch.sigmoid(out.squeeze(1)).numpy()
    return out.numpy()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("npz")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--positive", help="binary: the positive label")
    p.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int_at_least(1), default=150)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    train, test = load_official(args.npz, args.task, args.positive)
    rows = [("constant (majority / train mean)",
             score(args.task, test[2], constant_predictions(train[2], len(test[2]), args.task)))]
    for seed in args.seeds:
        t0 = time.perf_counter()
        pred = train_gru(train, test, args.task, seed, epochs=args.epochs)
        rows.append((f"hand-written GRU, seed {seed} ({time.perf_counter() - t0:.0f} s)",
                     score(args.task, test[2], pred)))
    print(f"{args.npz}: train {len(train[2])}, test {len(test[2])}")
    names = list(rows[0][1])
    print("| predictor | " + " | ".join(f"test {n}" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, m in rows:
        print(f"| {label} | " + " | ".join(f"{m[n]:.4f}" for n in names) + " |")


if __name__ == "__main__":
    main()
