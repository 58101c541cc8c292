"""Hostile and bad input: every case exits 2, names the file and key, and writes nothing."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core.train as train
from tuning import sweep

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "gru.yaml"
SMALL = ("data:\n  synthetic: {num_samples: 200, seq_len: 12}\nmodel: {hidden_size: 8}\n"
         "experiment: {device: cpu}\n")


def _csv(path: Path, label=True, nan=False, split=False):
    rows = [{"sequence_id": s, "time": t, "f1": float(s + t), **({"label": s % 2} if label else {}),
             **({"split": ("train", "val", "test")[s % 3]} if split else {})}
            for s in range(40) for t in range(4)]
    df = pd.DataFrame(rows)
    if nan:
        df.loc[7, "f1"] = np.nan
    df.to_csv(path, index=False)


def _space(base: Path, body: str) -> str:
    return f"base_config: {base}\nmax_epochs: 4\n{body}"


P = "params:\n  optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"

# (name, which CLI, files {name: text}, extra args, the key the error must name)
CASES = [
    ("unknown key", "train", {"c.yaml": "training: {epoch: 3}\n"}, [], "training.epoch"),
    ("wrong type", "train", {"c.yaml": "model: {hidden_size: big}\n"}, [], "model.hidden_size"),
    ("out of range", "train", {"c.yaml": "optim: {lr: -1}\n"}, [], "optim.lr"),
    ("bad choice", "train", {"c.yaml": "schedule: {name: linear}\n"}, [], "schedule.name"),
    ("duplicate keys", "train", {"c.yaml": "training:\n  epochs: 1\n  epochs: 2\n"}, [],
     "duplicate key"),
    ("1e-3 for an integer", "train", {"c.yaml": "training: {batch_size: 1e-3}\n"}, [],
     "training.batch_size"),
    ("broken YAML", "train", {"c.yaml": "training: [1,\n"}, [], "invalid YAML"),
    ("not a mapping", "train", {"c.yaml": "- 1\n- 2\n"}, [], "expected a mapping"),
    ("python tag", "train", {"c.yaml": "training: !!python/object/apply:os.getcwd []\n"}, [],
     "invalid YAML"),
    ("missing data file", "train", {"c.yaml": "data: {source: csv, path: /nonexistent.csv}\n"},
     [], "data.path"),
    ("CSV without label", "train", {"c.yaml": "data: {source: csv, path: PATH/nolabel.csv}\n"},
     [], "data.label_column"),
    ("NaN in features", "train", {"c.yaml": "data: {source: csv, path: PATH/nan.csv}\n"}, [],
     "data.path"),
    ("bad --set key", "train", {"c.yaml": SMALL}, ["--set", "training.foo=1"], "training.foo"),
    ("bad --set value", "train", {"c.yaml": SMALL}, ["--set", "optim.lr=abc"], "optim.lr"),
    ("tcn bidirectional", "train", {"c.yaml": "model: {name: tcn, bidirectional: true}\n"}, [],
     "model.bidirectional"),
    ("unknown space key", "sweep", {"s.yaml": _space(BASE, "trials: 3\n" + P)}, [], "trials"),
    ("low > high", "sweep", {"s.yaml": _space(BASE, "params:\n  optim.lr: {type: float, "
                                                    "low: 0.1, high: 0.01}\n")}, [],
     "params.optim.lr.low"),
    ("log with low <= 0", "sweep", {"s.yaml": _space(BASE, "params:\n  optim.lr: {type: float, "
                                                           "low: 0, high: 1, log: true}\n")}, [],
     "params.optim.lr.low"),
    ("empty choices", "sweep", {"s.yaml": _space(BASE, "params:\n  model.hidden_size: "
                                                       "{type: categorical, choices: []}\n")}, [],
     "params.model.hidden_size.choices"),
    ("condition on unknown", "sweep", {"s.yaml": _space(BASE, "params:\n  model.dropout: {type: "
                                                              "float, low: 0, high: 0.3, when: "
                                                              "{model.layers: 2}}\n")}, [],
     "params.model.dropout.when.model.layers"),
    ("duplicate space keys", "sweep", {"s.yaml": _space(BASE, P + "  optim.lr: 0.1\n")}, [],
     "duplicate key"),
    ("1e-3 as int bound", "sweep", {"s.yaml": _space(BASE, "params:\n  model.num_layers: {type: "
                                                           "int, low: 1e-3, high: 3}\n")}, [],
     "params.model.num_layers.low"),
    ("missing base config", "sweep", {"s.yaml": _space(Path("/nonexistent/base.yaml"), P)}, [],
     "base_config"),
    ("not a config key", "sweep", {"s.yaml": _space(BASE, "params:\n  model.width: {type: int, "
                                                          "low: 1, high: 3}\n")}, [],
     "params.model.width"),
    ("choice breaks config", "sweep", {"s.yaml": _space(BASE, "params:\n  model.hidden_size: "
                                                              "{type: categorical, choices: "
                                                              "[64, big]}\n")}, [],
     "params.model.hidden_size"),
    ("invalid base config", "sweep", {"b.yaml": "training: {epoch: 3}\n",
                                      "s.yaml": _space(Path("PATH/b.yaml"), P)}, [],
     "training.epoch"),
    ("sweep data path", "sweep", {"s.yaml": _space(BASE, P)},
     ["--set", "data.source=npz", "--set", "data.path=/nonexistent.npz"], "data.path"),
    # Issue 16 §1: drop_last and a batch larger than the train split leave no training batch.
    ("no training batch", "train", {"c.yaml": SMALL},
     ["--set", "loader.drop_last=true", "--set", "training.batch_size=512"],
     "training.batch_size"),
    ("sweep without a training batch", "sweep", {"s.yaml": _space(BASE, P)},
     ["--set", "loader.drop_last=true", "--set", "training.batch_size=512",
      "--set", "data.synthetic.num_samples=360"], "training.batch_size"),
    ("searched batch without a training batch", "sweep",
     {"s.yaml": _space(BASE, "params:\n  training.batch_size: {type: categorical, "
                             "choices: [16, 512]}\n")},
     ["--set", "loader.drop_last=true", "--set", "data.synthetic.num_samples=360"],
     "params.training.batch_size"),
    ("grace > max_epochs", "sweep", {"s.yaml": _space(BASE, "scheduler: {grace_period: 9}\n" + P)},
     [], "scheduler.grace_period"),
    ("unknown sampler", "sweep", {"s.yaml": _space(BASE, "sampler: {name: cmaes}\n" + P)}, [],
     "sampler.name"),
    ("metric of another task", "train", {"c.yaml": "task: {type: regression}\ntraining: "
                                                   "{checkpoint_metric: val_auroc}\n"}, [],
     "training.checkpoint_metric"),
    ("contradicting mode", "train", {"c.yaml": "task: {type: binary}\ntraining: "
                                               "{checkpoint_metric: val_auroc, "
                                               "checkpoint_mode: min}\n"}, [],
     "training.checkpoint_mode"),
    ("loss of another task", "train", {"c.yaml": "task: {type: binary, loss: mse}\n"}, [],
     "task.loss"),
    ("class weights of wrong length", "train", {"c.yaml": SMALL + "task: {class_weight: [1, 2]}"
                                                          "\n"}, [], "task.class_weight"),
    ("more folds than the smallest class has sequences", "train",
     {"c.yaml": "data: {cv_folds: 30, synthetic: {num_samples: 200, seq_len: 12}}\n"},
     [], "data.cv_folds"),
    ("cv_folds with a given val split", "train",
     {"c.yaml": "data: {source: csv, path: PATH/split.csv, split_column: split, cv_folds: 3}\n"},
     [], "data.cv_folds"),
    ("one fold", "train", {"c.yaml": "data: {cv_folds: 1}\n"}, [], "data.cv_folds"),
    ("space metric of another task", "sweep",
     {"s.yaml": _space(ROOT / "configs" / "regression.yaml", "metric: val_auroc\n" + P)}, [],
     "metric"),
]


@pytest.mark.parametrize("name,cli,files,extra,key", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_names_file_and_key_writes_nothing(tmp_path, monkeypatch, capsys,
                                                             name, cli, files, extra, key):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _csv(tmp_path / "nolabel.csv", label=False)
    _csv(tmp_path / "nan.csv", nan=True)
    _csv(tmp_path / "split.csv", split=True)
    paths = {}
    for fname, text in files.items():
        paths[fname] = tmp_path / fname
        paths[fname].write_text(text.replace("PATH", str(tmp_path)))
    target = tmp_path / "out"
    if cli == "train":
        code = train.main(["--config", str(paths["c.yaml"]), "--output-dir", str(target), *extra])
        named = paths["c.yaml"]
    else:
        code = sweep.main(["--space", str(paths["s.yaml"]), "--storage-path", str(target),
                           "--name", "x", *extra])
        named = paths["b.yaml"] if "b.yaml" in paths else paths["s.yaml"]
        if name in ("sweep data path", "sweep without a training batch"):
            named = BASE
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(named) in err and key in err, err
    # A value that came from --set is reported as such (issue 16: the pre-flight and the data
    # checks named only the config file).
    # In the sweep's pre-flight a --set loader.drop_last counts for the batch size it decides.
    set_keys = {a.partition("=")[0] for a in extra}
    from_set = key in set_keys or (cli == "sweep" and key.endswith("training.batch_size")
                                   and "loader.drop_last" in set_keys)
    assert (f"{named} (with --set)" in err) == from_set, err
    assert "Traceback" not in err
    assert not target.exists() and list(work.iterdir()) == []



def _targets(root: Path) -> None:
    """Data files whose targets do not fit a task type: labels s / 7 (float.csv), three classes
    (three.csv), 0/1 as [N] (y1d.npz) and linspace floats (float.npz), 40 sequences each."""
    for name, label in (("float", lambda s: s / 7), ("three", lambda s: s % 3)):
        pd.DataFrame([{"sequence_id": s, "time": t, "f1": float(s + t), "label": label(s)}
                      for s in range(40) for t in range(4)]).to_csv(root / f"{name}.csv",
                                                                    index=False)
    x = np.random.default_rng(0).standard_normal((40, 4, 1)).astype(np.float32)
    np.savez(root / "y1d.npz", X=x, y=np.arange(40) % 2)
    np.savez(root / "float.npz", X=x, y=np.linspace(0, 1, 40))


# Targets that do not fit task.type (issue 13): (name, CLI, config text, data file, the key).
# A long-format file's fault is its label column's; an NPZ file's `y` has no key but task.type.
TARGET_CASES = [
    ("[N] y under multilabel", "train", "task: {type: multilabel}\n", "y1d.npz", "task.type"),
    ("three labels under binary", "train", "task: {type: binary}\n", "three.csv",
     "data.label_column"),
    ("float label under multiclass", "train", "", "float.csv", "data.label_column"),
    ("float y under multiclass", "train", "", "float.npz", "task.type"),
    ("float label under multiclass, sweep", "sweep", "", "float.csv", "data.label_column"),
]


@pytest.mark.parametrize("name,cli,text,data,key", TARGET_CASES, ids=[c[0] for c in TARGET_CASES])
def test_targets_that_do_not_fit_the_task_exit_2_naming_that_key(tmp_path, monkeypatch, capsys,
                                                                 name, cli, text, data, key):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _targets(tmp_path)
    source = "csv" if data.endswith(".csv") else "npz"
    config = tmp_path / "c.yaml"
    config.write_text(f"{text}data: {{source: {source}, path: {tmp_path / data}}}\n")
    target = tmp_path / "out"
    if cli == "train":
        code = train.main(["--config", str(config), "--output-dir", str(target)])
    else:
        space = tmp_path / "s.yaml"
        space.write_text(_space(config, P))
        code = sweep.main(["--space", str(space), "--storage-path", str(target), "--name", "x"])
    err = capsys.readouterr().err
    assert code == 2, err
    # The config and the key come first, then the data file: no other key is blamed (a float
    # label once failed as data.val_fraction's).
    assert err.startswith(f"error: {config}: {key}: {tmp_path / data}: "), err
    assert "Traceback" not in err
    assert not target.exists() and list(work.iterdir()) == []

BAD_NAMES = ["../x", "/abs/path", "a/../../b", "a\x00b", "x" * 256, ".hidden", "", "a b"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_unsafe_names_rejected_before_any_directory(tmp_path, monkeypatch, capsys, bad):
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "store"
    assert sweep.main(["--space", str(ROOT / "search_spaces" / "gru.yaml"), "--smoke",
                       "--storage-path", str(storage), "--name", bad]) == 2
    assert "--name" in capsys.readouterr().err
    assert train.main(["--config", str(BASE), "--set", f"experiment.name={bad}"]) == 2
    assert "experiment.name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# (entry point, flag, value): every numeric flag with a value that means nothing.
SPACE_FILE = str(ROOT / "search_spaces" / "gru.yaml")
NUMERIC_FLAGS = [
    ("core.train", "--epochs", "0"),
    ("core.train", "--epochs", "-3"),
    ("tuning.sweep", "--max-failures", "-1"),
    ("tuning.sweep", "--num-samples", "0"),
    ("tuning.sweep", "--max-epochs", "0"),
    ("tuning.sweep", "--trials-per-gpu", "0"),
    ("tuning.sweep", "--time-budget", "0"),
    ("tuning.sweep", "--time-budget", "-5"),
    ("tuning.sweep", "--time-budget", "nan"),
    ("tuning.sweep", "--time-budget", "inf"),
    ("tuning.sweep", "--dashboard-port", "0"),
    ("tuning.sweep", "--dashboard-port", "70000"),
    ("tuning.report", "--top", "0"),
    ("benchmarks.compare_search", "--budget", "0"),
    ("benchmarks.compare_search", "--workers", "0"),
    ("benchmarks.compare_search", "--seeds", "1,,2"),
    ("benchmarks.compare_search", "--slack", "-5"),
    ("benchmarks.compare_search", "--slack", "nan"),
    ("benchmarks.compare_search", "--methods", "x"),
    ("benchmarks.compare_search", "--methods", ","),
    ("benchmarks.compare_search", "--methods", "a,x"),
    ("benchmarks.compare_search", "--methods", "a,a"),
    ("benchmarks.baselines", "--epochs", "0"),
    ("benchmarks.baselines", "--seeds", "-1"),
    ("benchmarks.reproduce", "--repeats", "0"),
    ("benchmarks.sweep_gpu", "--step-epochs", "1"),
    ("benchmarks.sweep_gpu", "--ks", "1,0"),
    ("benchmarks.sweep_gpu", "--gpu-counts", "two"),
    ("benchmarks.sweep_gpu", "--tables", "step,x"),
    ("benchmarks.sweep_gpu", "--mps", "of"),
    ("benchmarks.sweep_gpu", "--precisions", "bf32"),
    ("benchmarks.sweep_gpu", "--scaling-k", "4"),
    ("benchmarks.cold_start", "--mps", "on,of"),
    ("benchmarks.cold_start", "--procs", "-1"),
    ("benchmarks.synthetic_spread", "--epochs", "0"),
    ("benchmarks.train_throughput", "--epochs", "1"),
]
LEADING = {"core.train": ["--smoke"], "tuning.sweep": ["--space", SPACE_FILE, "--smoke"],
           "tuning.report": ["SWEEP"], "benchmarks.reproduce": ["SWEEP"],
           "benchmarks.baselines": ["data.npz", "--task", "multiclass"]}


@pytest.mark.parametrize("module,flag,value", NUMERIC_FLAGS,
                         ids=[f"{m} {f} {v}" for m, f, v in NUMERIC_FLAGS])
def test_numeric_flag_without_meaning_exits_2_naming_it(tmp_path, monkeypatch, capsys, module,
                                                        flag, value):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("SWEEP", str(tmp_path)) for a in LEADING.get(module, [])]
    monkeypatch.setattr(sys, "argv", [module, *args, flag, value])
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert f"argument {flag}: expected" in err and repr(value) in err, err
    assert list(tmp_path.iterdir()) == []  # nothing created
