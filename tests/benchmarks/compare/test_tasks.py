"""benchmarks.compare.tasks: the tsc task searches search_spaces/tsc.yaml as a user runs it,
sized to JapaneseVowels as the sweep's pre-flight sizes it, for every method."""

from pathlib import Path

import numpy as np

from benchmarks.compare.tasks import TASKS, task_setup
from core.config import config_to_dict, load_config
from tuning.driver import derive_sizes
from tuning.space import load_space, trial_config

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "japanese_vowels.npz"
TSC = ROOT / "search_spaces" / "tsc.yaml"


def _counts() -> tuple[int, int]:
    """JapaneseVowels' non-test series and its smallest class among them, from the file."""
    with np.load(DATA) as f:
        y = f["y"][f["split"] == "train"]
    return len(y), int(np.unique(y, return_counts=True)[1].min())


def _batch_choices(st) -> list[int]:
    return list(next(p for p in st.space.params if p.name == "training.batch_size").choices)


def test_the_tsc_task_is_the_shipped_space_with_the_data_file_alone():
    task = TASKS["tsc"]
    assert task.space == TSC
    assert task.overrides == ("data.source=npz", f"data.path={DATA}")
    assert (task.metric, task.test_metric) == ("val_loss", "test_accuracy")
    st = task_setup("tsc")
    assert st.mode == "min" and st.cfg.data.source == "npz"
    # configs/tsc.yaml already runs anywhere and chooses best.pt on the selection's metric
    assert st.cfg.experiment.device == "auto" and st.cfg.training.checkpoint_metric == "val_loss"
    # the japanese_vowels task is left as docs/comparison.md measured it
    jv = task_setup("japanese_vowels")
    assert jv.max_epochs == 45 and jv.cfg.data.cv_folds == 0 and jv.cfg.data.path == str(DATA)


def test_the_tsc_task_is_sized_to_japanese_vowels_as_the_sweep_sizes_it():
    n, smallest = _counts()
    assert (n, smallest) == (270, 30)
    base = load_config(load_space(TSC).base_config)
    sizes = derive_sizes(n, smallest, base.data.cv_folds, base.data.val_fraction)
    st = task_setup("tsc")
    assert st.cfg.data.cv_folds == sizes.cv_folds == 5
    assert _batch_choices(st) == sizes.batch_sizes == [4, 8, 16]
    assert st.max_epochs == st.space.max_epochs == sizes.max_epochs == 72
    assert st.grace == sizes.grace_period == 7 and st.rf == 3
    # the file's own values (100 epochs, grace 10, batches 8-64) are what the sizing replaced
    raw = load_space(TSC).raw
    assert (raw["max_epochs"], raw["scheduler"]["grace_period"]) == (100, 10)
    # method a's space keeps the sizing on: its sweep sizes again (test_method_sweep.py)
    assert st.space.raw["size_to_data"] is True
    # a peer's trial config: cross-validated with the sized folds, the trial's batch size
    cfg = trial_config(config_to_dict(st.cfg), {"training.batch_size": 4}, st.max_epochs, "t")
    assert cfg.data.cv_folds == 5 and cfg.training.batch_size == 4 and cfg.training.epochs == 72


def test_a_set_key_is_kept_and_the_rest_sized_around_it():
    n, smallest = _counts()
    st = task_setup("tsc", sets=["data.cv_folds=3"])
    sizes = derive_sizes(n, smallest, 3, 0.2)
    assert st.cfg.data.cv_folds == 3
    assert (_batch_choices(st), st.max_epochs, st.grace) == \
        (sizes.batch_sizes, sizes.max_epochs, sizes.grace_period)


def test_smoke_skips_the_sizing():
    st = task_setup("tsc", smoke=True)
    assert (st.max_epochs, st.grace, st.rf) == (4, 1, 2)
    assert _batch_choices(st) == [8, 16, 32, 64]  # the file's choices
    assert st.space.max_epochs == 100  # unsized (the smoke run's 4 epochs are Setup's)
    assert st.cfg.data.cv_folds == 2  # the smoke's own override: still cross-validated
