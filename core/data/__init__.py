"""Sequence data for every task type: the embedded synthetic sets, users' files, splits, batches.

Everything returns ``DataSplits``: train/val/test tensors ``x`` [N, T, F] float32, ``y`` per task
type (multiclass int64 [N]; binary float32 [N] of 0/1; multilabel float32 [N, K] of 0/1;
regression float32 [N, D], standardised on train) and ``lengths`` [N] int64 (``None`` when every
sequence has the full length T, which lets recurrent models skip packing). Problems with the data
raise ``DataError`` naming the config key at fault and the data file.

Modules: ``errors`` (DataError), ``dataset`` (SequenceData, DataSplits), ``synthetic`` (the
embedded sets), ``files`` (NPZ and long-format reading), ``targets`` (per task type), ``split``
(stratified, random, group and given splits), ``build`` (load_data), ``batching`` (BatchSource).
"""

from core.data.batching import Batch, BatchSource, balanced_weights, eval_batches
from core.data.build import build_splits, from_arrays, load_data
from core.data.dataset import TASK_TYPES, DataSplits, SequenceData
from core.data.errors import DataError
from core.data.files import RawData, label_columns, read_long, read_npz
from core.data.split import group_split, random_split, split_arrays
from core.data.synthetic import generate_synthetic, synthetic_task
from core.data.targets import encode_targets

__all__ = ["DataError", "SequenceData", "DataSplits", "TASK_TYPES", "load_data",
           "generate_synthetic", "synthetic_task", "from_arrays", "build_splits", "split_arrays",
           "random_split", "group_split", "BatchSource", "Batch", "balanced_weights",
           "eval_batches", "RawData", "read_npz", "read_long", "label_columns",
           "encode_targets"]
