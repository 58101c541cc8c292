"""The training step (forward, backward, clip, optimizer step) captured as one CUDA graph.

Small recurrent models are bound by kernel launches, not arithmetic: a replayed graph launches the
whole step at once. Capture needs static shapes and no host synchronisation inside the step, so it
is offered for tensor-mode batches of the full batch size; a short last batch runs eagerly on the
same parameters. ``unsupported_reason`` names what rules capture out, and ``fit`` then trains
eagerly and logs the reason.

Capture runs three warm-up steps on a side stream (the documented recipe) and then restores the
model and optimizer state in place, so the graphed run takes the same optimizer steps as an eager
one. The learning rate lives in a device tensor that LR schedulers update in place
(``fill_``), so per-step schedules work; checkpoints store it as a plain float
(``portable_optimizer_state``), so graphed and eager runs resume each other's checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["GraphedStep", "unsupported_reason", "prepare_optimizer", "release_optimizer",
           "portable_optimizer_state"]

WARMUP_STEPS = 3  # eager steps on a side stream before capture (cuDNN and allocator settle)


def unsupported_reason(*, device: torch.device, loader_mode: str, grad_accum_steps: int,
                       precision: str, optimizer: str, compile: bool, bidirectional: bool,
                       has_lengths: bool) -> str | None:
    """Why the training step cannot be captured here, or None when it can."""
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device (this run uses {device.type})"
    if loader_mode != "tensor":
        return "loader.mode is dataloader; capture needs tensor mode's static batches"
    if grad_accum_steps != 1:
        return "training.grad_accum_steps > 1 (the optimizer does not step every batch)"
    if precision == "fp16":
        return "fp16's GradScaler checks for inf on the host every step; use bf16 or fp32"
    if optimizer not in ("adam", "adamw"):
        return f"optim.name {optimizer}: only adam and adamw have a capturable step"
    if compile:
        return "training.compile is on; choose one of compile and cuda_graph"
    if bidirectional and has_lengths:
        return "a bidirectional RNN packs variable-length batches with host-side lengths"
    return None


def prepare_optimizer(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Capturable steps: step counters and the learning rate live on the device."""
    for group in optimizer.param_groups:
        group["capturable"] = True
        if not torch.is_tensor(group["lr"]):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
    for state in optimizer.state.values():
        if "step" in state and torch.is_tensor(state["step"]):
            state["step"] = state["step"].to(device=device, dtype=torch.float32)


def _eager_group(group: dict) -> None:
    if torch.is_tensor(group.get("lr")):
        group["lr"] = float(group["lr"])
    if "capturable" in group:
        group["capturable"] = False


def release_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Undoes ``prepare_optimizer`` for eager steps (after a failed capture)."""
    for group in optimizer.param_groups:
        _eager_group(group)


def portable_optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """``optimizer.state_dict()`` with a float learning rate and capturable off (loads anywhere)."""
    sd = optimizer.state_dict()
    for group in sd["param_groups"]:  # shallow copies: the live optimizer is untouched
        _eager_group(group)
    return sd


class GraphedStep:
    """Replays one captured training step on new batches of the captured shape.

    ``loss_sum`` (fp32, on the device) accumulates ``loss * batch`` over replays; the loop zeroes
    it each epoch.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
                 example: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]):
        """Captures ``step(x, y, lengths) -> loss`` (forward, backward and optimizer step).

        Raises whatever capture raises, after restoring the model and optimizer state.
        """
        x, y, lengths = example
        self.batch = x.shape[0]
        self.x, self.y = x.clone(), y.clone()
        self.lengths = None if lengths is None else lengths.clone()
        self.loss_sum = torch.zeros((), device=x.device)
        self.graph = torch.cuda.CUDAGraph()
        params = [p for p in model.parameters() if p.requires_grad]
        saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        saved_opt = {p: {k: v.detach().clone() for k, v in optimizer.state[p].items()
                         if torch.is_tensor(v)} for p in params if p in optimizer.state}

        def body() -> None:
            loss = step(self.x, self.y, self.lengths)
            self.loss_sum.add_(loss, alpha=self.batch)

        try:
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    optimizer.zero_grad(set_to_none=True)
                    body()
            torch.cuda.current_stream(x.device).wait_stream(side)
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                body()
        finally:
            torch.cuda.synchronize(x.device)
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    v.copy_(saved_model[k])
                for p in params:
                    for k, v in optimizer.state.get(p, {}).items():
                        if not torch.is_tensor(v):
                            continue
                        if p in saved_opt and k in saved_opt[p]:
                            v.copy_(saved_opt[p][k])
                        else:
                            v.zero_()  # state born in warm-up: as before a first step
                self.loss_sum.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None) -> None:
        self.x.copy_(x)
        self.y.copy_(y)
        if self.lengths is not None:
            self.lengths.copy_(lengths)
        self.graph.replay()
