import pytest
import torch

from core.config import ModelConfig
from core.models import MODELS, build_model

CASES = [
    ("gru", False, "last"), ("gru", False, "mean"), ("gru", True, "last"), ("gru", True, "max"),
    ("lstm", False, "last"), ("lstm", True, "mean"), ("tcn", False, "last"),
    ("tcn", False, "mean"), ("tcn", False, "max"),
]


@pytest.mark.parametrize("name,bidirectional,pooling", CASES)
def test_padded_batch_matches_unpadded_sequences(name, bidirectional, pooling):
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, hidden_size=6, num_layers=2, bidirectional=bidirectional,
                      pooling=pooling)
    model = build_model(cfg, num_features=3, num_classes=4).eval()
    lengths = torch.tensor([7, 3, 5])
    seqs = [torch.randn(int(n), 3) for n in lengths]
    padded = torch.zeros(3, 7, 3)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        padded[i, len(s):] = 100.0  # garbage padding must not leak into the output
    with torch.no_grad():
        batched = model(padded, lengths)
        alone = torch.cat([model(s[None]) for s in seqs])
    # Each sequence's logits equal those of the sequence run on its own, without padding.
    assert torch.allclose(batched, alone, atol=1e-5), (batched - alone).abs().max()


def test_registry_has_three_models():
    assert {"gru", "lstm", "tcn"} <= set(MODELS)
