"""Typed, strictly validated configuration: the single source of truth for every run.

Each section is a dataclass; each field is declared once with its default, its documentation and
its constraints (``spec(...)``). ``load_config`` reads a YAML file, applies ``--set`` overrides and
validates everything at once: unknown keys, wrong types and out-of-range values are collected and
raised together as a ``ConfigError`` that names the file and the dotted key of each problem.

Example:
    >>> cfg = config_from_dict({"training": {"epochs": 3}}, source="<example>")
    >>> cfg.training.epochs
    3
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.files import check_name
from core.schema import (
    ConfigError,
    build,
    load_yaml,
    parse_scalar,
    spec,
)
from core.schema import reference as schema_reference
from core.schema import reference_markdown as schema_reference_markdown
from core.tasks import LOSSES, TASK_TYPES, default_checkpoint_metric, metrics_for

__all__ = [
    "Config",
    "ConfigError",
    "ExperimentConfig",
    "TaskConfig",
    "DataConfig",
    "SyntheticConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "EarlyStoppingConfig",
    "TrainingConfig",
    "LoaderConfig",
    "METRICS",
    "load_config",
    "load_yaml",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "is_config_key",
    "parse_override",
    "reference",
    "reference_markdown",
]

# Metrics of the default (multiclass) task and their directions; core.tasks.metrics_for gives
# every task type's.
METRICS: dict[str, str] = metrics_for("multiclass")


@dataclass
class ExperimentConfig:
    name: str = spec("gru", "Run name, the prefix of the run directory: letters, digits, '.', "
                     "'_', '-'.")
    seed: int = spec(0, "Seed of model initialisation, dropout and data order (not of the data).")
    deterministic: bool = spec(
        False,
        "Use PyTorch's deterministic algorithms (cuDNN and cuBLAS included). Costs GPU speed; "
        "on CPU runs are already reproducible.",
    )
    device: str = spec("auto", "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.")
    num_threads: int = spec(0, "CPU threads for PyTorch; 0 keeps PyTorch's default. CPU results "
                            "depend on it in the last digits: a sweep sets each trial's CPU "
                            "share here, so exported configs reproduce trials exactly.", ge=0)


@dataclass
class SyntheticConfig:
    num_samples: int = spec(20000, "Sequences generated (all splits together).", ge=10)
    seq_len: int = spec(64, "Time steps per sequence.", ge=8)
    num_channels: int = spec(4, "Channels (features) per time step.", ge=2)
    num_motifs: int = spec(3, "Motif shapes; the label is the ordered pair of motifs, so "
                           "classes = num_motifs**2.", ge=2, le=6)
    noise: float = spec(0.5, "Standard deviation of the background noise (motif peaks: 1.5 to "
                        "2.5).", ge=0.0)
    seed: int = spec(0, "Generator seed: the same seed gives the same data, bit for bit.")
    positive_fraction: float = spec(0.05, "task.type binary: share of positive sequences (the "
                                    "motif pair m0 then m1; every other pair is negative).",
                                    gt=0.0, lt=1.0)


@dataclass
class TaskConfig:
    type: str = spec("multiclass", "What the model predicts per sequence: one of K classes "
                     "(multiclass), one positive/negative decision (binary: one logit), any "
                     "subset of K labels (multilabel: K logits) or one or more real numbers "
                     "(regression).", choices=TASK_TYPES)
    loss: str | None = spec(None, "Training loss; null picks the task's default (cross_entropy, "
                            "bce, bce, mse). multiclass: cross_entropy or focal; binary and "
                            "multilabel: bce or focal; regression: mse, mae or huber.",
                            choices=tuple(dict.fromkeys(n for v in LOSSES.values() for n in v)))
    label_smoothing: float = spec(0.0, "multiclass cross_entropy: label smoothing "
                                  "(torch.nn.functional.cross_entropy).", ge=0.0, lt=1.0)
    class_weight: str | list[float] = spec(
        "none", "multiclass: per-class loss weights: none, balanced (n_train / (K * n_class), "
        "from the train split only) or a list of K numbers in class order.")
    pos_weight: float | str = spec(
        "none", "binary/multilabel bce: weight of positive examples: none, balanced "
        "(negatives / positives per label, from the train split only) or a number.")
    positive_class: str | int | bool | None = spec(
        None, "binary: the label value that is positive (a class name, a number or true); null "
        "infers it from labels 0/1 or false/true.")
    focal_gamma: float = spec(2.0, "focal: focusing parameter gamma (Lin et al. 2017).", ge=0.0)
    focal_alpha: float | None = spec(None, "focal: weight of the positive class (binary, "
                                     "multilabel) in [0, 1]; null disables.", ge=0.0, le=1.0)
    huber_delta: float = spec(1.0, "huber: threshold between the quadratic and linear parts, "
                              "in standardised target units.", gt=0.0)
    top_k: int = spec(3, "multilabel: k of recall_at_k and hit_at_k.", ge=1)


@dataclass
class DataConfig:
    source: str = spec("synthetic", "Where sequences come from.",
                       choices=("synthetic", "npz", "csv", "parquet"))
    path: str | None = spec(None, "Data file for npz/csv/parquet (relative paths: to the working "
                            "directory).")
    id_column: str = spec("sequence_id", "Long format: column identifying a sequence.")
    time_column: str = spec("time", "Long format: column ordering the steps of a sequence.")
    label_column: str = spec("label", "Long format: column with the label or target (constant "
                             "within a sequence); multilabel: labels separated by "
                             "label_separator.")
    label_columns: list[str] | None = spec(None, "Long format, multilabel: one 0/1 column per "
                                           "label (instead of label_column).")
    label_separator: str = spec("|", "Long format, multilabel: separator of labels within "
                                "label_column.")
    target_columns: list[str] | None = spec(None, "Long format, regression: one column per "
                                            "target (instead of label_column).")
    split_column: str | None = spec(None, "Long format: column assigning each sequence to "
                                    "train, val or test (NPZ: an optional 'split' array). Given "
                                    "train and test only, val is carved from train.")
    group_column: str | None = spec(None, "Long format: column of groups (subject, recording) "
                                    "kept whole within one split (NPZ: an optional 'groups' "
                                    "array).")
    feature_columns: list[str] | None = spec(None, "Long format: feature columns; null means every "
                                             "other numeric column.")
    val_fraction: float = spec(0.15, "Share of each class put in the validation split.",
                               gt=0.0, lt=1.0)
    test_fraction: float = spec(0.15, "Share of each class put in the test split (0 disables).",
                                ge=0.0, lt=1.0)
    split_seed: int = spec(0, "Seed of the stratified split.")
    normalize: bool = spec(True, "Standardise each feature with mean and std fitted on the "
                           "train split only (padding excluded).")
    synthetic: SyntheticConfig = spec(None, "The embedded default data set.",
                                      factory=SyntheticConfig)


@dataclass
class ModelConfig:
    name: str = spec("gru", "A built-in model (gru, lstm, tcn, transformer), a name a "
                     "model.plugins module registered, or a user model as 'module:callable' "
                     "(docs/models.md).")
    plugins: list[str] = spec(None, "Modules imported before the model is built (they may call "
                              "core.models.register); importable from the working directory "
                              "or an installed package.", factory=list)
    kwargs: dict[str, Any] = spec(None, "User models only: keyword arguments of the model "
                                  "callable, free-form; a search space tunes them as "
                                  "model.kwargs.<name>. The fields below are the built-in "
                                  "models' and do not reach user models.", factory=dict)
    hidden_size: int = spec(128, "Hidden units per direction (RNN), channels (TCN) or model "
                            "width d_model (transformer).", ge=1)
    num_layers: int = spec(1, "Stacked recurrent layers, residual blocks (TCN) or encoder "
                           "layers (transformer).", ge=1)
    dropout: float = spec(0.0, "Dropout between layers (RNN: only when num_layers > 1; "
                          "transformer: attention, feed-forward and residual dropout).",
                          ge=0.0, lt=1.0)
    bidirectional: bool = spec(False, "Bidirectional recurrence (RNN only).")
    kernel_size: int = spec(3, "TCN convolution width; dilation doubles per block.", ge=2)
    num_heads: int = spec(4, "Transformer attention heads; hidden_size must be divisible by "
                          "it.", ge=1)
    ff_size: int = spec(0, "Transformer feed-forward width; 0 means 4 * hidden_size.", ge=0)
    positions: str = spec("sinusoidal", "Transformer position encoding: fixed sinusoids (any "
                          "length) or learned embeddings (up to max_len steps).",
                          choices=("sinusoidal", "learned"))
    max_len: int = spec(1024, "Transformer with learned positions: the longest sequence it "
                        "accepts.", ge=1)
    pooling: str = spec("last", "Sequence summary fed to the head: last valid step, mean or max "
                        "over valid steps, or a learned cls token (transformer only).",
                        choices=("last", "mean", "max", "cls"))
    head_hidden: int = spec(0, "Hidden units of the MLP head; 0 means a linear head.", ge=0)
    head_dropout: float = spec(0.0, "Dropout before the head's output layer.", ge=0.0, lt=1.0)
    layer_norm: bool = spec(False, "LayerNorm on the pooled features before the head.")


@dataclass
class OptimConfig:
    name: str = spec("adamw", "Optimizer.", choices=("adamw", "adam", "sgd"))
    lr: float = spec(2e-3, "Peak learning rate.", gt=0.0)
    weight_decay: float = spec(0.01, "Weight decay of weight matrices; biases and norm "
                               "parameters never decay.", ge=0.0)
    betas: list[float] = spec(None, "Adam(W) betas [beta1, beta2].", factory=lambda: [0.9, 0.999])
    eps: float = spec(1e-8, "Adam(W) epsilon.", gt=0.0)
    momentum: float = spec(0.9, "SGD momentum.", ge=0.0, lt=1.0)
    nesterov: bool = spec(False, "SGD Nesterov momentum.")


@dataclass
class ScheduleConfig:
    name: str = spec("cosine", "Learning-rate schedule.",
                     choices=("none", "cosine", "onecycle", "step", "plateau"))
    interval: str = spec("step", "Unit in which the schedule advances: optimizer steps or "
                         "epochs (plateau: always epoch).", choices=("step", "epoch"))
    warmup_steps: int = spec(0, "Linear warmup length, in intervals (steps or epochs); "
                             "onecycle uses it as its rising phase.", ge=0)
    warmup_fraction: float = spec(0.0, "Warmup as a fraction of the run's intervals (0.05: the "
                                  "first 5% of the optimizer steps), so it scales with the data "
                                  "set and the epochs; 0 disables. Use it or warmup_steps, not "
                                  "both.", ge=0.0, lt=1.0)
    min_lr_ratio: float = spec(0.0, "Cosine floor as a fraction of the peak lr.", ge=0.0, le=1.0)
    step_size: int = spec(10, "step: intervals between decays.", ge=1)
    gamma: float = spec(0.1, "step: multiplicative decay.", gt=0.0, le=1.0)
    plateau_factor: float = spec(0.5, "plateau: lr multiplier on a plateau.", gt=0.0, lt=1.0)
    plateau_patience: int = spec(2, "plateau: epochs without improvement before a cut.", ge=0)


@dataclass
class EarlyStoppingConfig:
    patience: int = spec(0, "Epochs without improvement before stopping; 0 disables.", ge=0)
    metric: str = spec("val_loss", "Metric watched: any metric of the task (docs/tasks.md).")
    mode: str | None = spec(None, "Whether the metric improves downwards or upwards; null takes "
                            "the metric's known direction (a contradicting mode is an error).",
                            choices=("min", "max"))
    min_delta: float = spec(0.0, "Smallest change that counts as an improvement.", ge=0.0)


@dataclass
class TrainingConfig:
    epochs: int = spec(20, "Training epochs.", ge=1)
    batch_size: int = spec(128, "Sequences per micro-batch.", ge=1)
    eval_batch_size: int = spec(1024, "Sequences per batch in validation and test.", ge=1)
    grad_accum_steps: int = spec(1, "Micro-batches per optimizer step; the loss is divided "
                                 "accordingly.", ge=1)
    grad_clip_norm: float = spec(1.0, "Clip the global gradient norm to this value (after AMP "
                                 "unscale); 0 disables.", ge=0.0)
    precision: str = spec("auto", "fp32, bf16 autocast, fp16 autocast with GradScaler, or auto: "
                          "bf16 for the tcn on a CUDA device that supports it, else fp32 (TF32 "
                          "on CUDA); small recurrent models measured faster in fp32 than bf16.",
                          choices=("auto", "fp32", "bf16", "fp16"))
    compile: bool = spec(False, "torch.compile the model (measured slower than eager for the "
                         "default GRU on an H100).")
    cuda_graph: bool = spec(False, "Capture the training step (forward, backward, clip, "
                            "optimizer step) as one CUDA graph and replay it: fewer kernel "
                            "launches for small models. Needs CUDA, loader.mode tensor, "
                            "grad_accum_steps 1, adam/adamw, no fp16 and no compile; otherwise "
                            "the run trains eagerly and logs why.")
    log_interval: int = spec(50, "Steps between progress updates and NaN/inf checks.", ge=1)
    checkpoint_metric: str | None = spec(
        None, "Metric that selects checkpoints/best.pt: any metric of the task (docs/tasks.md); "
        "null takes the task's default (val_accuracy, val_auroc, val_map, val_rmse for "
        "multiclass, binary, multilabel, regression), filled in at validation.")
    checkpoint_mode: str | None = spec(None, "Direction in which checkpoint_metric improves; null "
                                       "takes the metric's known direction (a contradicting "
                                       "mode is an error).", choices=("min", "max"))
    early_stopping: EarlyStoppingConfig = spec(None, "Stop when a metric stops improving.",
                                               factory=EarlyStoppingConfig)


@dataclass
class LoaderConfig:
    mode: str = spec("tensor", "'tensor': the data set lives on the device and batches are "
                     "gathered by index (fast path); 'dataloader': torch DataLoader.",
                     choices=("tensor", "dataloader"))
    num_workers: int = spec(0, "dataloader: worker processes.", ge=0)
    pin_memory: bool = spec(True, "dataloader: page-locked host batches (CUDA only).")
    persistent_workers: bool = spec(False, "dataloader: keep workers between epochs.")
    prefetch_factor: int | None = spec(None, "dataloader: batches prefetched per worker "
                                       "(null: PyTorch's default).", ge=1)
    drop_last: bool = spec(False, "Drop the last incomplete training batch (both modes).")
    sampler: str = spec("random", "Training order: random (each sequence once per epoch) or "
                        "balanced (classes drawn equally often, with replacement; multiclass "
                        "and binary).", choices=("random", "balanced"))


@dataclass
class Config:
    experiment: ExperimentConfig = spec(None, "Identity, seed and device.",
                                        factory=ExperimentConfig)
    task: TaskConfig = spec(None, "What is predicted, the loss and the metrics.",
                            factory=TaskConfig)
    data: DataConfig = spec(None, "Data source and split.", factory=DataConfig)
    model: ModelConfig = spec(None, "Architecture.", factory=ModelConfig)
    optim: OptimConfig = spec(None, "Optimizer.", factory=OptimConfig)
    schedule: ScheduleConfig = spec(None, "Learning-rate schedule.", factory=ScheduleConfig)
    training: TrainingConfig = spec(None, "Training loop.", factory=TrainingConfig)
    loader: LoaderConfig = spec(None, "Batching.", factory=LoaderConfig)


def _cross_checks(cfg: Config, problems: list) -> None:
    """Rules that involve more than one field."""
    d, m, s, o = cfg.data, cfg.model, cfg.schedule, cfg.optim
    if d.source != "synthetic" and not d.path:
        problems.append(("data.path", f"required when data.source is {d.source!r}"))
    if d.val_fraction + d.test_fraction >= 0.9:
        problems.append(("data.test_fraction", "val_fraction + test_fraction must be < 0.9"))
    _data_cross_checks(cfg, problems)
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
        problems.append(("schedule.warmup_fraction", f"give the warmup once: warmup_steps is "
                                                     f"{s.warmup_steps}; set one of them to 0"))
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


def _metric_checks(cfg: Config, problems: list) -> None:
    """Checkpoint and early-stopping metrics must be the task's; null modes take the direction."""
    known = metrics_for(cfg.task.type)
    tr, es = cfg.training, cfg.training.early_stopping
    if tr.checkpoint_metric is None:
        tr.checkpoint_metric = default_checkpoint_metric(cfg.task.type)
    for obj, metric_key, mode_key, prefix in (
            (tr, "checkpoint_metric", "checkpoint_mode", "training"),
            (es, "metric", "mode", "training.early_stopping")):
        metric, mode = getattr(obj, metric_key), getattr(obj, mode_key)
        if metric not in known:
            problems.append((f"{prefix}.{metric_key}",
                             f"{cfg.task.type} tasks do not produce {metric!r}; they produce "
                             f"{', '.join(known)}"))
        elif mode is None:
            setattr(obj, mode_key, known[metric])
        elif mode != known[metric]:
            problems.append((f"{prefix}.{mode_key}", f"{metric} improves when it goes "
                                                     f"{known[metric]}, not {mode}"))


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


def is_config_key(key: str) -> bool:
    """Whether a dotted key names a config field or an entry of a free-form mapping
    (``model.kwargs.<name>``): the keys a search space may tune."""
    cls, parts = Config, key.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) \
            else {}
        if part not in fields:
            return False
        tp = typing.get_type_hints(cls)[part]
        if typing.get_origin(tp) is dict:
            return i < len(parts) - 1 and all(parts[i + 1:])
        cls = tp
    return not dataclasses.is_dataclass(cls)


def config_from_dict(raw: dict, source: str = "<config>") -> Config:
    """Validates a nested mapping and returns the typed config, or raises ``ConfigError``."""
    problems: list[tuple[str, str]] = []
    cfg = build(Config, raw, "", problems)
    if not problems:
        _cross_checks(cfg, problems)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def config_to_dict(cfg) -> dict:
    """Plain nested dict of a config (lists, not tuples): YAML- and checkpoint-safe."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """Splits ``KEY=VALUE`` and parses VALUE as a YAML scalar."""
    if "=" not in text:
        raise ConfigError("--set", [(text, "expected KEY=VALUE")])
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError("--set", [(text, "empty key")])
    return key, parse_scalar(value)


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]], source: str = "--set") -> dict:
    """Returns a copy of ``raw`` with dotted-key overrides set. Keys are validated later."""
    out = copy.deepcopy(raw)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(source, [(".".join(parts[: i + 1]), "is not a section")])
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Loads a YAML config (or the defaults when ``path`` is None) with ``--set`` overrides.

    Problems in the file are reported against the file; problems introduced by an override are
    reported against ``--set`` and its key.
    """
    raw = load_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    pairs = [parse_override(o) for o in overrides or []]
    override_keys = {k for k, _ in pairs}
    merged = apply_overrides(raw, pairs)
    try:
        return config_from_dict(merged, source)
    except ConfigError as exc:
        problems = exc.problems
        if any(k in override_keys for k, _ in problems):
            source = f"{source} (with --set)"
        raise ConfigError(source, problems) from None


def reference(cls=Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, documentation) for every config field (``core.schema.reference``)."""
    return schema_reference(cls, prefix)


def reference_markdown() -> str:
    """The config reference table (docs/config-reference.md), generated from the declarations
    above."""
    return schema_reference_markdown(Config)


if __name__ == "__main__":
    print(reference_markdown(), end="")
