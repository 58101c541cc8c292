"""Every exception type of the project survives copy.copy and a pickle round trip: Ray carries a
trial's exception to the driver by pickling it (issue 16 §1: a ConfigError arrived as
``TypeError: ConfigError.__init__() missing ...``)."""

import copy
import importlib
import inspect
import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                 for d in ("core", "tuning") for p in (ROOT / d).rglob("*.py")
                 if p.name != "__init__.py")

# One instance per exception type, built as the code builds it.
EXAMPLES = {
    "core.errors.ConfigError": lambda cls: cls("configs/x.yaml", [("model.bidirectional",
                                                                   "must be false")]),
    "core.data.errors.DataError": lambda cls: cls("data.label_column", "no such column",
                                                  "data/x.csv"),
    "core.errors.LossSetupError": lambda cls: cls("task.pos_weight", "no positive examples"),
    "core.models.registry._Problem": lambda cls: cls("model.name", "unknown model"),
    "core.errors.CheckpointError": lambda cls: cls("last.pt: checkpoint is empty"),
    "core.errors.TrainingError": lambda cls: cls("the train split is empty"),
    "core.errors.NonFiniteLossError": lambda cls: cls("training loss became NaN"),
    "core.errors.ResourceError": lambda cls: cls("out of memory; lower training.batch_size"),
    "tuning.errors.StudyWriteError": lambda cls: cls("study.db refused a write"),
    "core.errors.RunError": lambda cls: cls("runs/train/x: already finished"),
    "tuning.errors.SweepError": lambda cls: cls("runs/sweeps/x: not a sweep directory"),
    "tuning.api.SweepInterrupted": lambda cls: cls("runs/sweeps/x"),
    "core.errors.PredictError": lambda cls: cls("preds.csv: the run was trained on 12 channels, "
                                                "the file has 3"),
    "core.errors.TrackingError": lambda cls: cls("MLflow at http://h:5000: log metrics: "
                                                   "connection refused"),
}


def project_exceptions() -> dict[str, type]:
    found = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and \
                    obj.__module__ == name:
                found[f"{name}.{obj.__name__}"] = obj
    return found


def test_each_package_keeps_its_exceptions_in_one_module():
    # core.errors, core.data.errors, tuning.errors; SweepInterrupted carries the API's Sweep and
    # _Problem is the model registry's internal signal.
    homes = {name.rsplit(".", 1)[0] for name in project_exceptions()}
    assert homes == {"core.errors", "core.data.errors", "core.models.registry", "tuning.errors",
                     "tuning.api"}


def test_old_import_names_still_work():
    from core.checkpoint import CheckpointError
    from core.errors import ConfigError as Home
    from core.losses import LossSetupError
    from core.run_dir import RunError
    from core.schema import ConfigError
    from tuning.record import SweepError
    from tuning.study import StudyWriteError

    assert ConfigError is Home
    assert {c.__module__ for c in (CheckpointError, LossSetupError, RunError)} == {"core.errors"}
    assert {c.__module__ for c in (SweepError, StudyWriteError)} == {"tuning.errors"}


def test_every_exception_type_has_an_example():
    # A new exception type needs an entry in EXAMPLES (and so this test's round trip).
    assert set(project_exceptions()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_exception_survives_copy_and_pickle(name):
    cls = project_exceptions()[name]
    exc = EXAMPLES[name](cls)
    for clone in (copy.copy(exc), copy.deepcopy(exc), pickle.loads(pickle.dumps(exc))):
        # The same type, the same message and the same attributes (key, source, problems).
        assert type(clone) is cls
        assert str(clone) == str(exc)
        assert vars(clone) == vars(exc)
