"""The sections of the training config: one dataclass per section, and ``Config`` of them all.

Each field is declared once with its default, its documentation and its constraints
(``core.schema.spec``); ``core.config.load`` builds and validates them, ``core.config.checks``
holds the rules that involve more than one field.

Example:
    >>> TrainingConfig().early_stopping.patience
    0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.schema import spec
from core.tasks import LOSSES, TASK_TYPES, metrics_for

__all__ = ["Config", "ExperimentConfig", "TaskConfig", "DataConfig", "SyntheticConfig",
           "ModelConfig", "OptimConfig", "ScheduleConfig", "EarlyStoppingConfig",
           "TrainingConfig", "LoaderConfig", "METRICS"]

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
    threshold: float | None = spec(
        None, "binary: a fixed decision threshold in (0, 1): a sequence is positive when its "
        "probability is at least this; f1_best (validation and test) and core.predict's "
        "predicted_label apply it. null: the F1-optimal threshold on validation (out-of-fold "
        "after cross-validation) at the best epoch, 0.5 without a validation split. A refit "
        "(tuning.export) sets it to its trial's.", gt=0.0, lt=1.0)


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
    val_fraction: float = spec(0.15, "Share of each class put in the validation split; 0 "
                               "trains on the whole non-test data with no validation: no val "
                               "metrics, the last epoch is best.pt (or the lowest train_loss "
                               "with training.checkpoint_metric train_loss), plateau schedules "
                               "watch train_loss, early stopping is refused.",
                               ge=0.0, lt=1.0)
    test_fraction: float = spec(0.15, "Share of each class put in the test split (0 disables).",
                                ge=0.0, lt=1.0)
    split_seed: int = spec(0, "Seed of the stratified split (and of the cross-validation "
                           "folds).")
    cv_folds: int = spec(0, "Cross-validation: 0 is off (one validation split); K >= 2 makes "
                         "K folds of the non-test sequences (stratified by class, by binned "
                         "target for regression, whole groups with group_column) and trains K "
                         "models together; each epoch reports the fold mean of every "
                         "validation metric (and per-fold values, val_<name>_fold<k>, and the "
                         "spread, val_<name>_sd). val_fraction is then unused.", ge=0)
    normalize: bool = spec(True, "Standardise each feature with mean and std fitted on the "
                           "train split only (padding excluded).")
    synthetic: SyntheticConfig = spec(None, "The embedded default data set.",
                                      factory=SyntheticConfig)


@dataclass
class ModelConfig:
    name: str = spec("gru", "A built-in model (gru, lstm, tcn, transformer; the time-series "
                     "classifiers fcn, resnet, inception_time, minirocket), a name a "
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
                        "over valid steps, or a learned cls token (transformer only). fcn, "
                        "resnet and inception_time always average over valid steps (their "
                        "papers' global average pooling); minirocket pools by PPV.",
                        choices=("last", "mean", "max", "cls"))
    head_hidden: int = spec(0, "Hidden units of the MLP head; 0 means a linear head.", ge=0)
    head_dropout: float = spec(0.0, "Dropout before the head's output layer.", ge=0.0, lt=1.0)
    layer_norm: bool = spec(False, "LayerNorm on the pooled features before the head.")
    filters: int | None = spec(None, "fcn, resnet, inception_time: convolution filters; null "
                               "takes the paper's. fcn: layers of filters, 2*filters, ..., "
                               "filters (paper 128: 128-256-128); resnet: blocks of filters, "
                               "2*filters, 2*filters, ... (paper 64: 64-128-128); "
                               "inception_time: filters per branch, a module is "
                               "(len(kernel_sizes) + 1) * filters wide (paper 32: 128).", ge=1)
    depth: int | None = spec(None, "resnet: residual blocks (paper 3); inception_time: inception "
                             "modules (paper 6); null takes the paper's. fcn's depth is "
                             "len(kernel_sizes).", ge=1)
    kernel_sizes: list[int] | None = spec(
        None, "fcn: one convolution per width (paper [8, 5, 3]); resnet: the convolutions of "
        "each block (paper [8, 5, 3]); inception_time: the parallel branches of each module "
        "(paper [40, 20, 10]); null takes the paper's. Keras 'same' padding: even widths pad "
        "one more step on the right.")
    bottleneck: int | None = spec(None, "inception_time: width of the 1x1 bottleneck before "
                                  "the branches (paper 32); 0 disables; null takes the paper's. "
                                  "Never applied to a 1-channel input, as in the paper.", ge=0)
    residual: bool = spec(True, "resnet and inception_time: residual connections (resnet: "
                          "around every block; inception_time: every third module, as in the "
                          "papers); false trains the plain stack.")
    rocket_features: int = spec(10000, "minirocket: number of PPV features, rounded down to a "
                                "multiple of its 84 kernels (paper 10,000 -> 9,996).", ge=84)
    rocket_max_dilations: int = spec(32, "minirocket: most dilations per kernel (paper 32).",
                                     ge=1)


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
    min_lr_ratio: float = spec(0.0, "Cosine and plateau: the lowest lr as a fraction of the "
                               "peak lr.", ge=0.0, le=1.0)
    step_size: int = spec(10, "step: intervals between decays.", ge=1)
    gamma: float = spec(0.1, "step: multiplicative decay.", gt=0.0, le=1.0)
    plateau_factor: float = spec(0.5, "plateau: lr multiplier on a plateau.", gt=0.0, lt=1.0)
    plateau_patience: int = spec(2, "plateau: epochs without improvement of val_loss (train_loss "
                                 "without a validation split) before a cut.", ge=0)


@dataclass
class EarlyStoppingConfig:
    patience: int = spec(0, "Epochs without improvement before stopping; 0 disables.", ge=0)
    metric: str = spec("val_loss", "Metric watched: any metric of the task (docs/tasks.md).")
    mode: str | None = spec(None, "Leave null: the direction follows from the metric. Kept so "
                            "that older configs stating the matching direction stay valid; a "
                            "contradicting one is an error.", choices=("min", "max"))
    min_delta: float = spec(0.0, "Smallest change of the metric that counts as an improvement; "
                            "an exact tie with a lower val_loss counts too.", ge=0.0)


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
        "multiclass, binary, multilabel, regression), filled in at validation. Epochs that tie "
        "on it are told apart by the lower val_loss.")
    checkpoint_mode: str | None = spec(None, "Leave null: the direction follows from "
                                       "checkpoint_metric (docs/tasks.md). Kept so that older "
                                       "configs stating the matching direction stay valid; a "
                                       "contradicting one is an error.", choices=("min", "max"))
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
