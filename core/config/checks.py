"""The config's rules that involve more than one field, and the defaults they resolve.

``cross_checks`` runs after every field has passed its own constraints (``core.schema``); it
appends ``(dotted key, message)`` problems, fills in the default checkpoint metric of the task
type and checks stated metric directions (null directions stay null: ``core.tasks.direction``).
"""

from __future__ import annotations

from core.config.sections import Config, ModelConfig
from core.files import check_name
from core.tasks import LOSSES, default_checkpoint_metric, metric_problem

__all__ = ["cross_checks"]


def cross_checks(cfg: Config, problems: list) -> None:
    """Rules that involve more than one field."""
    d, m, s, o = cfg.data, cfg.model, cfg.schedule, cfg.optim
    if d.source != "synthetic" and not d.path:
        problems.append(("data.path", f"required when data.source is {d.source!r}"))
    if d.cv_folds == 1:
        problems.append(("data.cv_folds", "0 (off) or at least 2 folds"))
    if d.val_fraction + d.test_fraction >= 0.9:
        problems.append(("data.test_fraction", "val_fraction + test_fraction must be < 0.9"))
    _data_cross_checks(cfg, problems)
    if d.val_fraction == 0 and cfg.training.early_stopping.patience:
        problems.append(("training.early_stopping.patience", "early stopping watches a "
                         "validation metric; data.val_fraction 0 leaves no validation split "
                         "(set patience 0 or a val_fraction > 0)"))
    if m.name == "tcn" and m.bidirectional:
        problems.append(("model.bidirectional", "the tcn model is causal; bidirectional must be "
                                                "false"))
    _check_model_names(m, problems)
    if len(o.betas) != 2 or not all(0.0 <= b < 1.0 for b in o.betas):
        problems.append(("optim.betas", f"expected two numbers in [0, 1), got {o.betas!r}"))
    if s.name == "plateau" and s.interval != "epoch":
        problems.append(("schedule.interval", "plateau steps once per epoch on the validation "
                                              "metric; set interval: epoch"))
    if s.name == "plateau" and s.warmup_steps:
        problems.append(("schedule.warmup_steps", "warmup is not supported with plateau"))
    if s.name == "plateau" and s.warmup_fraction:
        problems.append(("schedule.warmup_fraction", "warmup is not supported with plateau"))
    if s.warmup_steps and s.warmup_fraction:
        problems.append(("schedule.warmup_fraction",
                         f"give the warmup once: schedule.warmup_steps is {s.warmup_steps} and "
                         f"schedule.warmup_fraction is {s.warmup_fraction:g}; set one of them "
                         f"to 0"))
    dev = cfg.experiment.device
    if not (dev in ("auto", "cpu", "cuda") or
            (dev.startswith("cuda:") and dev[5:].isdigit())):
        problems.append(("experiment.device", f"expected auto, cpu, cuda or cuda:N, got {dev!r}"))
    name_problem = check_name(cfg.experiment.name)
    if name_problem:
        problems.append(("experiment.name", name_problem))
    _task_checks(cfg, problems)
    _metric_checks(cfg, problems)


def _task_checks(cfg: Config, problems: list) -> None:
    """task.*: the loss and its options must fit the task type."""
    t = cfg.task
    losses = LOSSES[t.type]
    loss = t.loss or losses[0]
    if loss not in losses:
        problems.append(("task.loss", f"{t.type} tasks train with {' or '.join(losses)}; "
                                      f"got {loss!r}"))
    if t.label_smoothing and not (t.type == "multiclass" and loss == "cross_entropy"):
        problems.append(("task.label_smoothing", "applies to multiclass cross_entropy only"))
    cw = t.class_weight
    if isinstance(cw, str):
        if cw not in ("none", "balanced"):
            problems.append(("task.class_weight", f"expected none, balanced or a list of numbers, "
                                                  f"got {cw!r}"))
    elif not cw or any(v is None or v < 0 for v in cw) or not any(v and v > 0 for v in cw):
        problems.append(("task.class_weight", "a list needs one non-negative number per class, "
                                              f"at least one positive; got {cw!r}"))
    if cw != "none" and t.type != "multiclass":
        problems.append(("task.class_weight", f"applies to multiclass tasks; {t.type} tasks use "
                         + ("task.pos_weight" if t.type in ("binary", "multilabel")
                            else "no class weights")))
    pw = t.pos_weight
    if isinstance(pw, str) and pw not in ("none", "balanced"):
        problems.append(("task.pos_weight", f"expected none, balanced or a number, got {pw!r}"))
    elif not isinstance(pw, str) and pw <= 0:
        problems.append(("task.pos_weight", f"must be > 0, got {pw!r}"))
    elif pw != "none":
        if t.type not in ("binary", "multilabel"):
            problems.append(("task.pos_weight", f"applies to binary and multilabel tasks, not "
                                                f"{t.type}"))
        elif loss != "bce":
            problems.append(("task.pos_weight", "applies to the bce loss; focal weighs positives "
                                                "with task.focal_alpha"))
    if t.focal_alpha is not None and not (loss == "focal" and t.type in ("binary", "multilabel")):
        problems.append(("task.focal_alpha", "applies to the focal loss of binary and multilabel "
                                             "tasks (multiclass focal: task.class_weight)"))
    if t.positive_class is not None and t.type != "binary":
        problems.append(("task.positive_class", f"applies to binary tasks, not {t.type}"))
    if t.threshold is not None and t.type != "binary":
        problems.append(("task.threshold", f"applies to binary tasks, not {t.type}"))


def _metric_checks(cfg: Config, problems: list) -> None:
    """Checkpoint and early-stopping metrics must be the task's; a stated mode must be the
    metric's direction. Null modes stay null (so a snapshot or an exported config lets a later
    ``--set`` change the metric); readers take the direction from ``core.tasks.direction``."""
    tr, es = cfg.training, cfg.training.early_stopping
    if tr.checkpoint_metric is None:
        tr.checkpoint_metric = default_checkpoint_metric(cfg.task.type)
    for obj, metric_key, mode_key, prefix in (
            (tr, "checkpoint_metric", "checkpoint_mode", "training"),
            (es, "metric", "mode", "training.early_stopping")):
        metric, mode = getattr(obj, metric_key), getattr(obj, mode_key)
        problem = metric_problem(cfg.task.type, metric, mode)
        if problem is not None:
            which, message = problem
            if which == "mode":
                # The direction follows from the metric (core.tasks.direction); an old config
                # that states a matching mode stays valid, a contradicting one is told to drop it.
                message += f"; drop {prefix}.{mode_key}: the direction follows from the metric"
            elif metric_key == "checkpoint_metric":
                message += (f"; set {prefix}.{metric_key} to one of them (null: the "
                            f"{cfg.task.type} default, "
                            f"{default_checkpoint_metric(cfg.task.type)})")
            else:
                message += f"; set {prefix}.{metric_key} to one of them"
            problems.append((f"{prefix}.{metric_key if which == 'metric' else mode_key}", message))


def _data_cross_checks(cfg: Config, problems: list) -> None:
    """Data fields that only some sources or task types read are errors elsewhere."""
    d, task = cfg.data, cfg.task.type
    long_only = ("split_column", "group_column", "feature_columns", "label_columns",
                 "target_columns")
    if d.source in ("synthetic", "npz"):
        for key in long_only:
            if getattr(d, key) is not None:
                hint = " (an NPZ file gives them as its 'split' / 'groups' arrays)" \
                    if d.source == "npz" and key in ("split_column", "group_column") else ""
                problems.append((f"data.{key}", f"applies to csv and parquet files, not "
                                                f"data.source {d.source}{hint}"))
    if d.label_columns is not None and task != "multilabel":
        problems.append(("data.label_columns", f"is for task.type multilabel, not {task}"))
    if d.target_columns is not None and task != "regression":
        problems.append(("data.target_columns", f"is for task.type regression, not {task}"))
    for key in ("label_columns", "target_columns", "feature_columns"):
        cols = getattr(d, key)
        if cols is not None and (not cols or len(set(cols)) != len(cols)):
            problems.append((f"data.{key}", f"expected distinct column names, got {cols!r}"))
    if d.split_column is not None and d.split_column == d.group_column:
        problems.append(("data.group_column", "must differ from data.split_column"))
    if cfg.loader.sampler == "balanced" and task not in ("multiclass", "binary"):
        problems.append(("loader.sampler", f"balanced draws classes equally often; task.type "
                                           f"{task} has no classes (use random)"))


def _dotted_names(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _check_model_names(m: ModelConfig, problems: list) -> None:
    """The model section's syntax; whether the names exist is ``core.models.check_model``'s job."""
    if ":" in m.name:
        module, _, attr = m.name.partition(":")
        if not (_dotted_names(module) and _dotted_names(attr)):
            problems.append(("model.name", f"expected a registered name or 'module:callable' "
                                           f"(e.g. mypkg.nets:build_net), got {m.name!r}"))
    elif not _dotted_names(m.name):
        problems.append(("model.name", f"expected a registered name or 'module:callable', "
                                       f"got {m.name!r}"))
    for i, module in enumerate(m.plugins):
        if not _dotted_names(module):
            problems.append((f"model.plugins[{i}]", f"expected a module name such as "
                                                    f"mypkg.nets, got {module!r}"))
    if m.pooling == "cls" and m.name != "transformer":
        problems.append(("model.pooling", "cls pools a transformer's cls token; use last, mean "
                                          "or max with this model"))
    if m.name == "transformer" and m.bidirectional:
        problems.append(("model.bidirectional", "applies to gru and lstm; the transformer's "
                                                "attention already reads both directions"))
    if m.name == "transformer" and m.hidden_size % m.num_heads:
        problems.append(("model.hidden_size", f"must be divisible by model.num_heads "
                                              f"({m.num_heads}), got {m.hidden_size}"))
