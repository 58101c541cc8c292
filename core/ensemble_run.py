"""Training an ensemble file (``tuning.export --ensemble N`` writes one):
``python -m core.train --ensemble FILE --output-dir DIR``.

Each member's config (its trial's refit, ``tuning.final``) trains into ``DIR/member-<i>`` as a
standalone run (``core.run.run_training``); then the ensemble's prediction on the test split, the
weighted mean of the members' probabilities (regression: outputs), is scored by
``core.predict.combined_metrics``, the code ``python -m core.predict --ensemble DIR`` uses.
Binary: the ensemble's decision threshold is the file's ``threshold`` (``tuning.export`` writes
the F1-optimal one of the ensemble's out-of-fold prediction; 0.5 without one): its test
``f1_best`` and ``core.predict --ensemble``'s labels apply it. Each member keeps its own config
(and threshold) for its own test metrics.

    DIR/ensemble.json   the members' run folders and weights, the threshold (core.predict reads it)
    DIR/summary.json    {"members": [{"run", "trial", "weight", "test"}], "test": ensemble's,
                        "threshold" (binary)}
    DIR/member-<i>/     each member's run directory
"""

from __future__ import annotations

import json
from pathlib import Path

from core.config import ConfigError, config_from_dict, load_yaml
from core.files import atomic_write_text
from core.run_dir import ENSEMBLE_INDEX
from core.tasks import decision_threshold

__all__ = ["read_members", "read_threshold", "run_ensemble"]


def read_members(path: Path) -> list[tuple[str, float, dict]]:
    """The ensemble file's members as (trial, weight, config dict), every config validated.

    Raises:
        ConfigError: a missing or malformed ``members`` list, a weight that is not a positive
            number, or a member config that is not valid (the file and key named).
    """
    doc = load_yaml(path)
    members = doc.get("members") if isinstance(doc, dict) else None
    if not isinstance(members, list) or not members:
        raise ConfigError(str(path), [("members", "a non-empty list of {trial, weight, config}")])
    out = []
    for i, m in enumerate(members):
        weight = m.get("weight") if isinstance(m, dict) else None
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise ConfigError(str(path), [(f"members[{i}].weight", "a positive number")])
        if not isinstance(m.get("config"), dict):
            raise ConfigError(str(path), [(f"members[{i}].config", "a full config (mapping)")])
        config_from_dict(m["config"], f"{path}: members[{i}].config")
        out.append((str(m.get("trial", f"member-{i}")), float(weight), m["config"]))
    return out


def read_threshold(path: Path, task_type: str) -> float | None:
    """The ensemble file's binary decision ``threshold`` (None when absent or null).

    Raises:
        ConfigError: not a number in (0, 1), or given for a task that is not binary.
    """
    doc = load_yaml(path)
    value = doc.get("threshold") if isinstance(doc, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ConfigError(str(path), [("threshold", f"a number in (0, 1), got {value!r}")])
    if task_type != "binary":
        raise ConfigError(str(path), [("threshold", f"applies to binary tasks, not "
                                                    f"{task_type}")])
    return float(value)


def run_ensemble(path: str | Path, out_dir: str | Path, *, quiet: bool = False,
                 verbose: bool = False) -> dict:
    """Trains every member of the ensemble file ``path`` into ``out_dir/member-<i>`` and scores
    the ensemble on the test split; returns the summary written to ``out_dir/summary.json``.
    ``quiet``, ``verbose``: the console of each member's run (``core.run.run_training``).

    Raises:
        ConfigError: a bad ensemble file (nothing trained), or members whose data differ.
        as ``core.run.run_training`` for a member.
    """
    import torch

    from core.checkpoint import load_checkpoint
    from core.cv import model_from_state
    from core.data import load_data
    from core.device import resolve_device
    from core.evaluate import evaluate
    from core.loop import task_loss
    from core.models import build_model
    from core.predict import combined_metrics
    from core.run import run_training

    path, out_dir = Path(path), Path(out_dir)
    members = read_members(path)
    task_type = config_from_dict(members[0][2], f"{path}: members[0].config").task.type
    threshold, _ = decision_threshold(read_threshold(path, task_type), None)
    data_sections = {json.dumps(c.get("data", {}), sort_keys=True, default=str)
                     for _, _, c in members}
    if len(data_sections) > 1:
        raise ConfigError(str(path), [("members", "the members' data sections differ; an "
                                                  "ensemble's members train on the same data")])
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, outputs = [], []
    total = sum(w for _, w, _ in members)
    cfg = data = loss_fn = None
    for i, (trial, weight, raw) in enumerate(members):
        run = f"member-{i}"
        result = run_training(raw, run_dir=out_dir / run, quiet=quiet, verbose=verbose,
                              source=f"{path}: members[{i}].config")
        rows.append({"run": run, "trial": trial, "weight": weight / total,
                     "test": result.test})
        cfg = config_from_dict(raw, f"{path}: members[{i}].config")
        if data is None:
            data = load_data(cfg.data, cfg.task)
            loss_fn = task_loss(cfg, data)
        if len(data.test):
            state = load_checkpoint(out_dir / run / "checkpoints" / "best.pt")
            net = model_from_state(state, lambda c=cfg, d=data: build_model(
                c.model, d.num_features, d.num_outputs), cfg.task.type)
            kept: dict[str, torch.Tensor] = {}
            device = resolve_device(cfg.experiment.device)
            evaluate(net.to(device), data.test, cfg.training.eval_batch_size, device, "fp32",
                     loss_fn.to(device), top_k=cfg.task.top_k,
                     threshold=state["history"][-1].get("val_threshold"),
                     target_mean=data.target_mean, target_std=data.target_std,
                     keep_outputs=kept)
            outputs.append(kept["outputs"])
    test = None
    if outputs:
        _, test = combined_metrics(cfg.task.type, outputs, [r["weight"] for r in rows],
                                   data.test.y, loss_fn.cpu(), top_k=cfg.task.top_k,
                                   threshold=threshold, target_mean=data.target_mean,
                                   target_std=data.target_std)
    binary = {"threshold": threshold} if task_type == "binary" else {}
    atomic_write_text(out_dir / ENSEMBLE_INDEX, json.dumps(
        {"source": str(path), "members": [{"run": r["run"], "trial": r["trial"],
                                           "weight": r["weight"]} for r in rows], **binary},
        indent=2))
    summary = {"status": "completed", "source": str(path), "members": rows, "test": test,
               **binary}
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary
