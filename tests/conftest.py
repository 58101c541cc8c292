import os

import pytest
import torch

from core.config import config_from_dict

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tiny_dict(**sections) -> dict:
    """A config that trains in well under a second on CPU; sections override per key."""
    base = {
        "experiment": {"device": "cpu", "seed": 0},
        "data": {"synthetic": {"num_samples": 180, "seq_len": 12, "num_channels": 3,
                               "num_motifs": 2}},
        "model": {"hidden_size": 8},
        "training": {"epochs": 2, "batch_size": 16, "log_interval": 3},
        "schedule": {"name": "cosine", "warmup_steps": 3},
    }
    for section, values in sections.items():
        node = base.setdefault(section, {})
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict):
                node[k] = {**node[k], **v}
            else:
                node[k] = v
    return base


@pytest.fixture
def tiny():
    def make(**sections):
        return config_from_dict(tiny_dict(**sections), "<test>")

    return make
