"""The model registry, user models and the checks that run before anything is written.

A model is named by ``model.name``: a built-in (``gru``, ``lstm``, ``tcn``, ``transformer``,
``fcn``, ``resnet``, ``inception_time``, ``minirocket``), a
name registered with ``register`` by a module listed in ``model.plugins``, or a ``module:callable``
import path. User builders (registered or by path) follow one contract::

    builder(num_features: int, num_outputs: int, **model.kwargs) -> nn.Module
    module(x, lengths) -> logits
        x        [B, T, F] float, zero (or anything) beyond each sequence's length
        lengths  [B] int64 valid steps per sequence, or None when all span T steps
        logits   [B, num_outputs] float

A model may also define ``fit_data(x, lengths, seed)``: ``core.loop.fit`` calls it once with the
training split (``x`` [N, T, F] and ``lengths`` [N] or None, on the run's device) and
``experiment.seed`` before the first epoch of a run that does not resume, for what is fitted to
data rather than trained (``minirocket``'s biases); it must keep what it fits in buffers, so that
checkpoints hold it.

``num_outputs`` is the task's output size (multiclass: K classes, binary: 1, multilabel: K
labels, regression: D targets). Of the ``model`` section, user models get only ``kwargs``; the
built-in models' fields (hidden_size, num_layers, ...) do not reach them.
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.config import ConfigError, ModelConfig

__all__ = ["MODELS", "register", "register_builtin", "build_model", "check_model",
           "count_parameters", "is_builtin"]


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    builtin: bool  # builtin(cfg, num_features, num_outputs); else builder(nf, no, **kwargs)


MODELS: dict[str, _Entry] = {}
BUILTIN_NAMES = ("gru", "lstm", "tcn", "transformer", "fcn", "resnet", "inception_time",
                 "minirocket")


def register(name: str):
    """Decorator: registers a user builder ``fn(num_features, num_outputs, **kwargs)`` as
    ``model.name: <name>`` (the module must be listed in ``model.plugins``).

    Example:
        >>> @register("tiny_mlp")
        ... def tiny_mlp(num_features, num_outputs, width=16):
        ...     ...

    Raises:
        ValueError: ``name`` is a built-in model's.
    """
    if name in BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in model; register yours under another name")

    def deco(fn):
        MODELS[name] = _Entry(fn, builtin=False)
        return fn

    return deco


def register_builtin(name: str):
    """Decorator for this package's models: ``fn(cfg: ModelConfig, num_features, num_outputs)``."""

    def deco(fn):
        MODELS[name] = _Entry(fn, builtin=True)
        return fn

    return deco


def is_builtin(cfg: ModelConfig) -> bool:
    """Whether ``cfg.name`` is one of this package's models (which read the built-in fields)."""
    return cfg.name in BUILTIN_NAMES


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Problem(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message

    def __reduce__(self):  # copy and pickle rebuild it from both arguments
        return type(self), (self.key, self.message)


def _last_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _import(module: str, key: str):
    try:
        return importlib.import_module(module)
    except Exception as exc:  # any error raised while importing the user's module
        raise _Problem(key, f"cannot import {module}: {_last_line(exc)}") from None


def _entry(cfg: ModelConfig) -> _Entry:
    """The builder ``cfg.name`` names, after importing ``cfg.plugins``."""
    for i, module in enumerate(cfg.plugins):
        _import(module, f"model.plugins[{i}]")
    if ":" not in cfg.name:
        if cfg.name not in MODELS:
            hint = "" if cfg.plugins else "; a user model needs model.plugins or 'module:callable'"
            raise _Problem("model.name", f"unknown model {cfg.name!r} (registered: "
                                         f"{', '.join(sorted(MODELS))}){hint}")
        return MODELS[cfg.name]
    module_name, _, attr = cfg.name.partition(":")
    obj = _import(module_name, "model.name")
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _Problem("model.name", f"{module_name} ({getattr(obj, '__file__', '?')}) has "
                                         f"no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise _Problem("model.name", f"{cfg.name} is a {type(obj).__name__}, not a callable")
    return _Entry(obj, builtin=False)


def _bind(entry: _Entry, cfg: ModelConfig, extra: tuple[str, ...] = ()) -> None:
    """Checks that the builder accepts (num_features, num_outputs, **kwargs) by name."""
    if entry.builtin:
        if cfg.kwargs:
            raise _Problem("model.kwargs", f"the built-in model {cfg.name} takes no kwargs; "
                                           "set its fields (model.hidden_size, ...) instead")
        return
    try:
        sig = inspect.signature(entry.builder)
    except (TypeError, ValueError):
        return  # no signature to read (a C extension): the probe build will tell
    names = {**cfg.kwargs, **dict.fromkeys(extra)}
    try:
        sig.bind(0, 0, **names)
    except TypeError as exc:
        raise _Problem("model.kwargs", f"{cfg.name} rejects the kwargs {sorted(names)}: "
                                       f"{exc}") from None


def build_model(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    """Builds the model ``cfg`` names (importing ``cfg.plugins`` first).

    Args:
        cfg: the model section.
        num_features: F, the features per time step.
        num_outputs: the output size (see the module docstring).

    Returns:
        An ``nn.Module`` mapping ``x`` [B, T, F] and ``lengths`` [B] (or None) to
        [B, num_outputs].

    Raises:
        ValueError: the name, plugins or kwargs are wrong (``check_model`` says the same as a
            ``ConfigError`` naming the key).
    """
    try:
        entry = _entry(cfg)
        _bind(entry, cfg)
    except _Problem as p:
        raise ValueError(f"{p.key}: {p.message}") from None
    if entry.builtin:
        return entry.builder(cfg, num_features, num_outputs)
    return entry.builder(num_features, num_outputs, **cfg.kwargs)


PROBE_STEPS = 12  # time steps of check_model's probe batch (fewer when the data is shorter)


def check_model(cfg: ModelConfig, num_features: int, num_outputs: int, *,
                seq_len: int | None = None, tuned_kwargs: tuple[str, ...] = (),
                source: str = "<config>") -> None:
    """Everything about the model that can fail, checked before a run or sweep writes anything.

    Imports ``model.plugins`` and the ``model.name`` module, finds the callable, binds
    ``model.kwargs`` (and the names in ``tuned_kwargs``, which a search space sets) to its
    signature, builds the model and runs a probe batch of two sequences (lengths ``T`` and
    ``T // 2 + 1``, ``T = min(seq_len, PROBE_STEPS)``) on the CPU, in eval mode and without
    gradients, expecting logits [2, num_outputs].

    Raises:
        ConfigError: naming ``model.name``, ``model.plugins[i]`` or ``model.kwargs`` (or
            ``model.max_len``) and ``source``, with the import error's last line, the missing
            attribute, the rejected or missing argument, or the wrong output shape.
    """
    try:
        entry = _entry(cfg)
        _bind(entry, cfg, tuned_kwargs)
        if entry.builtin and cfg.positions == "learned" and cfg.name == "transformer" \
                and seq_len is not None and seq_len > cfg.max_len:
            raise _Problem("model.max_len", f"the data has sequences of {seq_len} steps; "
                                            f"learned positions cover {cfg.max_len}")
        _probe(entry, cfg, num_features, num_outputs, seq_len)
    except _Problem as p:
        raise ConfigError(source, [(p.key, p.message)]) from None


def _probe(entry: _Entry, cfg: ModelConfig, num_features: int, num_outputs: int,
           seq_len: int | None) -> None:
    key = "model.kwargs" if cfg.kwargs and not entry.builtin else "model.name"
    try:
        model = entry.builder(cfg, num_features, num_outputs) if entry.builtin else \
            entry.builder(num_features, num_outputs, **cfg.kwargs)
    except Exception as exc:
        raise _Problem(key, f"building {cfg.name} failed: {_last_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise _Problem("model.name", f"{cfg.name} returned a {type(model).__name__}, not an "
                                     "nn.Module")
    t_len = max(1, min(seq_len or PROBE_STEPS, PROBE_STEPS))
    x = torch.randn(2, t_len, num_features)
    lengths = torch.tensor([t_len, t_len // 2 + 1], dtype=torch.long)
    was_training = model.training
    model.eval()
    if hasattr(model, "fit_data"):
        try:
            model.fit_data(x, lengths, 0)
        except Exception as exc:
            raise _Problem(key, f"{cfg.name}.fit_data failed on a probe batch x [2, {t_len}, "
                                f"{num_features}]: {_last_line(exc)}") from None
    try:
        with torch.no_grad():
            out = model(x, lengths)
    except Exception as exc:
        raise _Problem(key, f"{cfg.name} failed on a probe batch x [2, {t_len}, {num_features}] "
                            f"with lengths [2]: {_last_line(exc)}") from None
    finally:
        model.train(was_training)
    if not torch.is_tensor(out) or tuple(out.shape) != (2, num_outputs):
        got = list(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise _Problem(key, f"{cfg.name} returned {got} on a probe batch x [2, {t_len}, "
                            f"{num_features}]; expected logits [2, {num_outputs}] "
                            f"([B, num_outputs])")
    if not out.is_floating_point():
        raise _Problem(key, f"{cfg.name} returned {out.dtype} logits; expected a float tensor")
