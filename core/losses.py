"""Training losses per task type, with class and positive weights taken from the train split.

``build_loss(task, train_y, num_outputs, class_names)`` returns a ``TaskLoss``: called with the
model's logits [B, num_outputs] and the targets of ``core.data`` (multiclass int64 [B], binary
float32 [B] of 0/1, multilabel float32 [B, K] of 0/1, regression float32 [B, D] standardised), it
returns the per-sample losses [B] (``reduction="none"``) or their mean (the default).

Every loss is a mean over samples of a per-sample loss, never PyTorch's weight-normalised mean
(``sum(w_i l_i) / sum(w_i)``): a batch's loss is then additive over its samples, so gradient
accumulation equals one big batch and the validation loss is a plain sample-weighted mean.
Balanced class weights average to exactly 1 over the train split, so the scale matches the
unweighted loss.

Per-sample definitions (p: softmax or sigmoid probability of the true class/label, w: weights):
    cross_entropy  w_y * CE(logits, y; label_smoothing)   torch.nn.functional.cross_entropy
    focal (multi)  w_y * (1 - p_y)^gamma * -log p_y        Lin et al. 2017, eq. 5, alpha = w_y
    bce            mean over labels of BCEWithLogits with pos_weight
    focal (bin.)   mean over labels of alpha_t (1 - p_t)^gamma BCE; Lin et al. 2017 (as
                   torchvision.ops.sigmoid_focal_loss)
    mse/mae/huber  mean over targets, on standardised targets (huber: delta in those units)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.config import TaskConfig
from core.errors import LossSetupError
from core.tasks import default_loss

__all__ = ["TaskLoss", "LossSetupError", "build_loss", "class_weights", "positive_weights"]





def class_weights(task: TaskConfig, train_y: torch.Tensor,
                  class_names: list[str]) -> torch.Tensor | None:
    """multiclass per-class weights [K] float32, or None (``task.class_weight: none``).

    balanced: ``n_train / (K * n_k)`` from the train labels ``train_y`` [N] (King and Zeng 2001,
    scikit-learn's ``compute_class_weight``). Raises LossSetupError naming ``task.class_weight``
    when a list has the wrong length or a class has no train sequence.
    """
    cw, k = task.class_weight, len(class_names)
    if isinstance(cw, str) and cw == "none":
        return None
    if isinstance(cw, list):
        if len(cw) != k:
            raise LossSetupError("task.class_weight", f"expected {k} numbers, one per class in "
                                 f"the order {class_names}; got {len(cw)}")
        return torch.tensor(cw, dtype=torch.float32)
    counts = torch.bincount(train_y.long().cpu(), minlength=k).double()
    if (counts == 0).any():
        missing = [class_names[i] for i in torch.nonzero(counts == 0).flatten().tolist()]
        raise LossSetupError("task.class_weight", f"balanced weights need every class in the "
                             f"train split; {missing} have no train sequence")
    return (counts.sum() / (k * counts)).float()


def positive_weights(task: TaskConfig, train_y: torch.Tensor) -> torch.Tensor | None:
    """binary/multilabel bce ``pos_weight`` [L] float32 (L = 1 or K), or None.

    balanced: negatives / positives per label in the train targets ``train_y`` ([N] or [N, K]).
    Raises LossSetupError naming ``task.pos_weight`` when a label has no positive train example.
    """
    pw = task.pos_weight
    if isinstance(pw, str) and pw == "none":
        return None
    y = train_y.float().cpu().reshape(train_y.shape[0], -1)
    if not isinstance(pw, str):
        return torch.full((y.shape[1],), float(pw), dtype=torch.float32)
    pos = y.sum(0).double()
    if (pos == 0).any():
        labels = torch.nonzero(pos == 0).flatten().tolist()
        raise LossSetupError("task.pos_weight", f"balanced weights need positives in the train "
                             f"split; label(s) {labels} have none")
    return ((y.shape[0] - pos) / pos).float()


class TaskLoss(nn.Module):
    """The task's loss. ``forward(logits [B, O], target) -> [B]`` or its mean; see the module.

    Weights are buffers, so ``.to(device)`` moves them and the loss is CUDA-graph capturable (no
    host synchronisation).
    """

    def __init__(self, task_type: str, name: str, *, label_smoothing: float = 0.0,
                 class_weight: torch.Tensor | None = None,
                 pos_weight: torch.Tensor | None = None, focal_gamma: float = 2.0,
                 focal_alpha: float | None = None, huber_delta: float = 1.0):
        super().__init__()
        self.task_type, self.name = task_type, name
        self.label_smoothing, self.focal_gamma = label_smoothing, focal_gamma
        self.focal_alpha, self.huber_delta = focal_alpha, huber_delta
        self.register_buffer("class_weight", class_weight)
        self.register_buffer("pos_weight", pos_weight)

    def extra_repr(self) -> str:
        return f"{self.task_type}, {self.name}"

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                reduction: str = "mean") -> torch.Tensor:
        logits = logits.float()
        if self.task_type == "binary":
            logits = logits.reshape(-1)
        if self.task_type == "multiclass":
            per = self._multiclass(logits, target)
        elif self.task_type in ("binary", "multilabel"):
            per = self._sigmoid(logits, target.float())
        else:
            per = self._regression(logits, target.float().reshape(logits.shape))
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        return per.mean()

    def _multiclass(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "cross_entropy":
            return F.cross_entropy(logits, target, weight=self.class_weight, reduction="none",
                                   label_smoothing=self.label_smoothing)
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        per = -((1 - logp.exp()) ** self.focal_gamma) * logp
        if self.class_weight is not None:
            per = per * self.class_weight[target]
        return per

    def _sigmoid(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "bce":
            per = F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight,
                                                     reduction="none")
        else:
            ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            p = torch.sigmoid(logits)
            p_t = p * target + (1 - p) * (1 - target)
            per = ce * (1 - p_t) ** self.focal_gamma
            if self.focal_alpha is not None:
                per = per * (self.focal_alpha * target + (1 - self.focal_alpha) * (1 - target))
        return per if per.ndim == 1 else per.mean(-1)

    def _regression(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "mse":
            per = F.mse_loss(pred, target, reduction="none")
        elif self.name == "mae":
            per = F.l1_loss(pred, target, reduction="none")
        else:
            per = F.huber_loss(pred, target, reduction="none", delta=self.huber_delta)
        return per.mean(-1)


def build_loss(task: TaskConfig, train_y: torch.Tensor, class_names: list[str]) -> TaskLoss:
    """The loss of ``task`` with weights from the train targets ``train_y`` (on the CPU).

    Raises LossSetupError (naming ``task.class_weight`` or ``task.pos_weight``) when the weights
    do not fit the data.
    """
    name = task.loss or default_loss(task.type)
    cw = class_weights(task, train_y, class_names) if task.type == "multiclass" else None
    pw = positive_weights(task, train_y) if task.type in ("binary", "multilabel") and \
        name == "bce" else None
    return TaskLoss(task.type, name, label_smoothing=task.label_smoothing, class_weight=cw,
                    pos_weight=pw, focal_gamma=task.focal_gamma, focal_alpha=task.focal_alpha,
                    huber_delta=task.huber_delta)
