import pickle

import pytest
import torch

from core import checkpoint as ck
from core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_and_digest(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.arange(4.0), "epoch": 3}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    assert (tmp_path / "c.pt.sha256").read_text().strip()


@pytest.mark.parametrize("damage", ["truncate", "empty", "bitflip"])
def test_damaged_checkpoint_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.randn(64)}, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_pickle_payload_is_refused_and_not_executed(tmp_path):
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {canary}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format_version": 1, "x": Evil()}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not canary.exists()


def test_rng_round_trip():
    import random

    import numpy as np

    state = ck.capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(1))
    ck.restore_rng(state)
    b = (random.random(), np.random.rand(), torch.rand(1))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
