"""Device, precision and PyTorch's settings of a run."""

import pytest
import torch

from core.device import autocast_context, resolve_device, resolve_precision
from core.errors import TrainingError


def test_cpu_and_auto_devices_and_a_missing_cuda_device_is_an_error():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    missing = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(TrainingError, match="experiment.device"):
        resolve_device(missing)


def test_explicit_precision_is_kept_and_fp32_autocast_is_a_no_op():
    assert resolve_precision("fp16", torch.device("cpu"), "gru") == "fp16"
    x = torch.ones(2, 2)
    with autocast_context("fp32", torch.device("cpu")):
        assert (x @ x).dtype == torch.float32
    with autocast_context("bf16", torch.device("cpu")):
        assert (x @ x).dtype == torch.bfloat16


def test_auto_precision_is_bf16_for_the_transformer_on_capable_gpus():
    assert resolve_precision("auto", torch.device("cpu"), "transformer") == "fp32"
    if torch.cuda.is_available():
        expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        assert resolve_precision("auto", torch.device("cuda", 0), "transformer") == expected
        assert resolve_precision("auto", torch.device("cuda", 0), "gru") == "fp32"
