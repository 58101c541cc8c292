"""Sequence models behind a small registry: ``gru``, ``lstm``, ``tcn``, ``transformer``, the
time-series classifiers ``fcn``, ``resnet``, ``inception_time`` and ``minirocket``, and user
models by import path (``model.name: mypkg.nets:build_net``) or by a registered name.

Every model maps ``x`` [B, T, F] and optional ``lengths`` [B] to logits [B, num_outputs]. The
built-in models' outputs depend only on each sequence's first ``lengths[i]`` steps: padding never
leaks in. ``core.models.registry`` states the contract for user models; ``check_model`` checks a
config's model before anything is written.

Example:
    >>> from core.config import ModelConfig
    >>> model = build_model(ModelConfig(name="gru", hidden_size=16), num_features=3, num_outputs=4)
    >>> model(torch.zeros(2, 10, 3)).shape
    torch.Size([2, 4])
"""

import torch  # noqa: F401  (the example above)

from core.models import (  # noqa: F401  (they register themselves)
    fcn,
    inception_time,
    minirocket,
    recurrent,
    resnet,
    tcn,
    transformer,
)
from core.models.fcn import FCN
from core.models.inception_time import InceptionTime
from core.models.layers import Head, pool
from core.models.minirocket import MiniRocket
from core.models.recurrent import RNNClassifier
from core.models.registry import (
    MODELS,
    build_model,
    check_model,
    count_parameters,
    is_builtin,
    register,
)
from core.models.resnet import ResNet
from core.models.tcn import TCNClassifier
from core.models.transformer import TransformerClassifier

__all__ = ["MODELS", "register", "build_model", "check_model", "count_parameters", "is_builtin",
           "pool", "Head", "RNNClassifier", "TCNClassifier", "TransformerClassifier", "FCN",
           "ResNet", "InceptionTime", "MiniRocket"]
