"""Predictions of a trained run on new data: ``python -m core.predict --run DIR --data FILE
--out preds.csv`` (or ``.parquet``), and ``predict(run_dir, data_file)`` from Python.

The model is the run's ``checkpoints/best.pt`` (a cross-validated run's: the mean prediction of
its fold models, ``core.cv.FoldEnsemble``). The data file is read as the run's ``data`` section
describes its files (NPZ, or a long CSV/Parquet table with the same id, time and feature
columns); its targets are optional. Before anything is predicted, the file is checked against
the training data the checkpoint recorded (``core.train_state.data_info``): the feature names
(long format) or channel count (NPZ), and the sequence length (a run trained on sequences of one
length T takes only that length; a run trained on varying lengths takes any length up to its T).
Features are normalised with the statistics stored with the model, never refitted.

The result is one row per sequence, in the file's sequence order (its columns per task:
``core.prediction_table``). With targets in the file, ``Predictions.metrics`` holds the task's
metrics as ``test_<name>``: of the file's test sequences when it is an NPZ with a ``split``
array (the run's own file: summary.json's test metrics), else of every sequence. The binary
decision threshold (``core.tasks.decision_threshold``) is ``task.threshold`` when fixed, as a
refit's is; else the one chosen on validation at the best epoch (``val_threshold``); else 0.5;
an ensemble's is its file's ``threshold``.

Exit codes: 0 written; 2 a bad run directory, data file or output path (nothing written).
"""

from __future__ import annotations

if __name__ == "__main__":  # a command: its imports below compile once (core.bytecode)
    from core.bytecode import cache_bytecode

    cache_bytecode(interpreter=True)

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from core.checkpoint import CheckpointError, load_checkpoint
from core.cli import EXIT_OK, fail
from core.config import Config, ConfigError, config_from_dict, load_yaml
from core.cv import model_from_state
from core.data import (
    DataError,
    RawData,
    encode_targets,
    load_data,
    read_long,
    read_npz,
)
from core.errors import PredictError
from core.prediction_table import Predictions, prediction_frame, write_predictions
from core.run_dir import ENSEMBLE_INDEX, SNAPSHOT_FILE
from core.tasks import decision_threshold

__all__ = ["Predictions", "PredictError", "combined_metrics", "predict", "predict_ensemble",
           "read_ensemble", "scored_rows", "write_predictions", "main"]

_FORMATS = {".npz": "npz", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _run_config(run_dir: Path) -> Config:
    snapshot = run_dir / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise PredictError(f"{run_dir}: not a run directory (no {SNAPSHOT_FILE})")
    return config_from_dict(load_yaml(snapshot), str(snapshot))


def _data_info(cfg: Config, state: dict, run_dir: Path) -> dict:
    """The training data's description from the checkpoint; a checkpoint written before it was
    stored gets it from the run's training data, rebuilt as the run built it."""
    if "data_info" in state:
        return state["data_info"]
    try:
        data = load_data(cfg.data, cfg.task)
    except DataError as exc:
        raise PredictError(f"{run_dir}: its checkpoint predates the stored data description and "
                           f"its training data cannot be read again ({exc.key}: {exc.message}); "
                           "retrain the run") from None
    from core.train_state import data_info

    return data_info(data)


def _read(path: Path, cfg: Config, info: dict) -> RawData:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PredictError(f"{path}: unknown format (expected {', '.join(_FORMATS)})")
    if not path.is_file():
        raise PredictError(f"{path}: file not found")
    # The run's own columns; split and group assignments do not apply to predictions, and the
    # features are the run's, by name.
    data_cfg = dataclasses.replace(
        cfg.data, source=fmt, path=str(path), split_column=None, group_column=None,
        feature_columns=list(info["feature_names"]) if fmt != "npz" else None)
    try:
        if fmt == "npz":
            return read_npz(path, labels=False)
        return read_long(path, data_cfg, cfg.task, fmt, labels=False)
    except DataError as exc:
        if exc.key == "data.feature_columns":
            raise PredictError(f"{path}: the run was trained on the features "
                               f"{info['feature_names']}; {exc.message}") from None
        raise PredictError(f"{path}: {exc.message} ({exc.key} of the run's config)") from None


def _check_shape(path: Path, raw: RawData, info: dict) -> None:
    f_run, f_new = len(info["feature_names"]), raw.x.shape[2]
    if f_new != f_run:
        raise PredictError(f"{path}: {f_new} channels (features) per step; the run was trained "
                           f"on {f_run}")
    t_run = info["seq_len"]
    lengths = raw.lengths if raw.lengths is not None else np.full(len(raw.x), raw.x.shape[1])
    if info["variable_lengths"]:
        if lengths.max() > t_run:
            raise PredictError(f"{path}: sequences up to {int(lengths.max())} steps long; the run "
                               f"was trained on sequences of at most {t_run} steps")
    elif (lengths != t_run).any():
        bad = np.flatnonzero(lengths != t_run)
        raise PredictError(f"{path}: {len(bad)} sequences are not {t_run} steps long (the first, "
                           f"id {raw.ids[bad[0]]}, has {int(lengths[bad[0]])}); the run was "
                           f"trained on sequences of exactly {t_run} steps")


def _targets(path: Path, raw: RawData, cfg: Config, class_names: list[str],
             info: dict) -> torch.Tensor | None:
    """The file's targets encoded as the run's (class indices of the run's classes; regression
    standardised with the run's statistics), or None for a file without targets."""
    if not raw.has_labels:
        return None
    try:
        t = encode_targets(raw, cfg.data, cfg.task)
    except DataError as exc:
        raise PredictError(f"{path}: {exc.message}") from None
    task = cfg.task.type
    if task == "regression":
        y = (t.y - info["target_mean"].double().numpy()) / info["target_std"].double().numpy()
        return torch.from_numpy(y.astype(np.float32))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(t.names) - set(index))
    if unknown:
        raise PredictError(f"{path}: {'labels' if task == 'multilabel' else 'classes'} "
                           f"{unknown} are not the run's ({', '.join(class_names)})")
    if task == "multilabel":
        y = np.zeros((len(t.y), len(class_names)), np.float32)
        y[:, [index[n] for n in t.names]] = t.y
        return torch.from_numpy(y)
    mapped = np.asarray([index[t.names[int(i)]] for i in np.asarray(t.y).astype(np.int64)])
    return torch.from_numpy(mapped.astype(np.float32 if task == "binary" else np.int64))


def predict(run_dir: str | Path, data_file: str | Path, *, device: str = "cpu",
            batch_size: int | None = None) -> Predictions:
    """Predicts every sequence of ``data_file`` with the run's best model.

    Args:
        run_dir: a run directory of ``core.train`` / ``run_training``.
        data_file: NPZ (``X`` [N, T, F], optional ``y``, ``lengths``, ``ids``) or a long CSV or
            Parquet table with the run's id, time and feature columns (targets optional).
        device: where the model runs ("cpu", "cuda", "cuda:N").
        batch_size: sequences per forward pass (default the run's eval_batch_size).

    Returns:
        ``Predictions``: the table, the metrics when the file has targets, the raw outputs.

    Raises:
        PredictError: the run directory or checkpoint is unusable, or the file does not fit the
            run (its features, channels or lengths differ: the message says how).
    """
    r = _run_outputs(Path(run_dir), Path(data_file), device, batch_size)
    frame = _frame(r["raw"], r["logits"], r["y"], r["cfg"], r["class_names"], r["info"],
                   r["threshold"])
    metrics = None if r["y"] is None else \
        {f"test_{k}": v for k, v in r["values"].items() if k != "threshold"}
    return Predictions(frame, metrics, r["logits"], r["scored"])


def _run_outputs(run_dir: Path, path: Path, device: str, batch_size: int | None) -> dict:
    """One run's outputs on a data file, and what reading them needs (``predict``'s steps)."""
    from core.data import SequenceData
    from core.evaluate import evaluate
    from core.losses import build_loss
    from core.models import build_model

    cfg = _run_config(run_dir)
    best = run_dir / "checkpoints" / "best.pt"
    try:
        state = load_checkpoint(best)
    except (CheckpointError, FileNotFoundError) as exc:
        raise PredictError(f"{run_dir}: no usable checkpoints/best.pt ({exc})") from None
    info = _data_info(cfg, state, run_dir)
    class_names = list(state["class_names"])
    raw = _read(path, cfg, info)
    _check_shape(path, raw, info)
    y = _targets(path, raw, cfg, class_names, info)

    x = raw.x.astype(np.float32)
    lengths = raw.lengths
    if lengths is not None and (lengths == x.shape[1]).all():
        lengths = None
    norm = state.get("normalization") or {}
    if norm.get("mean") is not None:
        x = ((x - norm["mean"].numpy()) / norm["std"].numpy()).astype(np.float32)
        if lengths is not None:
            x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
    task = cfg.task.type
    n_out = 1 if task == "binary" else len(class_names)
    dev = torch.device(device)
    net = model_from_state(state, lambda: build_model(cfg.model, x.shape[2], n_out), task)
    net = net.to(dev).eval()
    placeholder = y if y is not None else (
        torch.zeros(len(x), dtype=torch.int64) if task == "multiclass" else
        torch.zeros(len(x)) if task == "binary" else torch.zeros(len(x), n_out))
    split = SequenceData(torch.from_numpy(x), placeholder,
                         None if lengths is None else torch.from_numpy(lengths), raw.ids)
    loss_fn = build_loss(cfg.task, _train_like_targets(info, task, n_out),
                         class_names).to(dev)
    threshold, _ = decision_threshold(cfg.task.threshold, state["history"][-1].get(
        "val_threshold") if state.get("history") else None)  # test_f1_best's too
    kept: dict[str, torch.Tensor] = {}
    scored = scored_rows(raw)
    evaluation = dict(top_k=cfg.task.top_k, threshold=threshold,
                      target_mean=info["target_mean"], target_std=info["target_std"])
    batch = batch_size or cfg.training.eval_batch_size
    values = evaluate(net, split, batch, dev, "fp32", loss_fn, keep_outputs=kept, **evaluation)
    if scored is not None and y is not None:
        # the metrics of the file's test split only (summary.json's when it is the run's file)
        values = evaluate(net, split.subset(scored), batch, dev, "fp32", loss_fn, **evaluation)
    return {"cfg": cfg, "raw": raw, "y": y, "class_names": class_names, "info": info,
            "threshold": threshold, "logits": kept["outputs"], "values": values,
            "loss_fn": loss_fn.cpu(), "scored": scored}


def scored_rows(raw: RawData) -> np.ndarray | None:
    """The rows whose targets the metrics score: an NPZ file's ``split == "test"`` sequences
    when it has a ``split`` array with test sequences (the run's own file: summary.json's test
    split), else None (every row). Every row is predicted either way."""
    if raw.split is None:
        return None
    test = np.flatnonzero(np.asarray(raw.split).astype(str) == "test")
    return test if len(test) else None


def combined_metrics(task_type: str, outputs: list[torch.Tensor], weights: list[float],
                     y: torch.Tensor, loss_fn, *, top_k: int = 3, threshold: float | None = None,
                     target_mean: torch.Tensor | None = None,
                     target_std: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """An ensemble's outputs and metrics: the weighted mean of the members' probabilities
    (regression: outputs; ``core.cv.combine_outputs``) as logits [N, C], and ``test_<name>``
    metrics of it (``core.metrics``; ``test_loss`` by ``loss_fn``). Used by
    ``predict_ensemble`` and for an ensemble run's test split (``core.ensemble_run``)."""
    from core.cv import combine_outputs
    from core.metrics import compute_metrics

    logits = combine_outputs(task_type, [o.float().cpu() for o in outputs], weights)
    values = {"loss": float(loss_fn(logits, y, reduction="sum")) / len(y),
              **compute_metrics(task_type, logits, y, top_k=top_k, threshold=threshold,
                                target_mean=target_mean, target_std=target_std)}
    return logits, {f"test_{k}": v for k, v in values.items() if k != "threshold"}


def read_ensemble(ensemble_dir: str | Path) -> tuple[list[Path], list[float], float]:
    """The member run directories, weights and binary decision threshold of a trained ensemble
    (``core.ensemble_run`` writes ``ensemble.json``; an index without a threshold: 0.5).

    Raises:
        PredictError: not an ensemble directory.
    """
    import json

    ensemble_dir = Path(ensemble_dir)
    index = ensemble_dir / ENSEMBLE_INDEX
    if not index.is_file():
        raise PredictError(f"{ensemble_dir}: not a trained ensemble (no {ENSEMBLE_INDEX}; train "
                           "one with python -m core.train --ensemble FILE --output-dir DIR)")
    doc = json.loads(index.read_text())
    return ([ensemble_dir / m["run"] for m in doc["members"]],
            [float(m["weight"]) for m in doc["members"]],
            decision_threshold(doc.get("threshold"), None)[0])


def predict_ensemble(ensemble_dir: str | Path, data_file: str | Path, *, device: str = "cpu",
                     batch_size: int | None = None) -> Predictions:
    """``predict`` for a trained ensemble: its members' weighted mean prediction (the table's
    columns are a single run's), binary labels at the ensemble's threshold.

    Raises:
        PredictError: not an ensemble directory, or as ``predict``.
    """
    runs, weights, threshold = read_ensemble(ensemble_dir)
    parts = [_run_outputs(run, Path(data_file), device, batch_size) for run in runs]
    first = parts[0]
    cfg, info = first["cfg"], first["info"]
    if first["y"] is None:
        from core.cv import combine_outputs

        logits = combine_outputs(cfg.task.type, [p["logits"] for p in parts], weights)
        metrics = None
    else:
        rows = first["scored"] if first["scored"] is not None else slice(None)
        logits, metrics = combined_metrics(
            cfg.task.type, [p["logits"] for p in parts], weights, first["y"], first["loss_fn"],
            top_k=cfg.task.top_k, threshold=threshold,
            target_mean=info["target_mean"], target_std=info["target_std"])
        if first["scored"] is not None:
            _, metrics = combined_metrics(
                cfg.task.type, [p["logits"][rows] for p in parts], weights, first["y"][rows],
                first["loss_fn"], top_k=cfg.task.top_k, threshold=threshold,
                target_mean=info["target_mean"], target_std=info["target_std"])
    frame = _frame(first["raw"], logits, first["y"], cfg, first["class_names"], info,
                   threshold)
    return Predictions(frame, metrics, logits, first["scored"])


def _frame(raw: RawData, logits: torch.Tensor, y: torch.Tensor | None, cfg: Config,
           class_names: list[str], info: dict, threshold: float | None):
    """``prediction_frame`` of a file's sequences and a run's data description."""
    return prediction_frame(raw.ids, logits, y, cfg, class_names, threshold,
                            info["target_mean"], info["target_std"])


def _train_like_targets(info: dict, task: str, n_out: int) -> torch.Tensor:
    """Targets with the train split's class or positive counts (all the loss's 'balanced'
    weights depend on), so the loss equals the one the run reported."""
    n, pos = int(info["train_size"]), info["train_positives"]
    if task == "multiclass":
        return torch.repeat_interleave(torch.arange(len(pos)), pos.long())
    if task in ("binary", "multilabel"):
        y = (torch.arange(n)[:, None] < pos.reshape(1, -1)).float()
        return y.reshape(-1) if task == "binary" else y
    return torch.zeros(n, n_out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.predict",
                                description=__doc__.split("\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=Path, metavar="DIR", help="run directory")
    which.add_argument("--ensemble", type=Path, metavar="DIR",
                       help="a trained ensemble's directory (python -m core.train --ensemble): "
                            "its members' weighted mean prediction")
    p.add_argument("--data", type=Path, required=True, metavar="FILE",
                   help="NPZ, CSV or Parquet file of sequences (targets optional)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="predictions: .csv or .parquet")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns its exit code (0 or 2)."""
    args = build_parser().parse_args(argv)
    if args.out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        return fail(f"--out {args.out}: expected a .csv or .parquet file")
    try:
        result = predict(args.run, args.data, device=args.device) if args.run is not None \
            else predict_ensemble(args.ensemble, args.data, device=args.device)
        write_predictions(result, args.out)
    except (PredictError, ConfigError) as exc:
        return fail(str(exc))
    print(f"{len(result.frame)} sequences -> {args.out}")
    if result.metrics:
        where = f"the file's {len(result.scored)} test sequences (its split array)" \
            if result.scored is not None else f"all {len(result.frame)} sequences"
        print(f"metrics on {where}: " +
              "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
