"""A user model from a folder outside this repository: standalone runs, a sweep that tunes its
kwargs (killed with SIGKILL and resumed), exact retraining of the best trial, and every failure
mode of the model section as bad input (exit 2, key named, nothing written)."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

import core.run as run
import core.train as train
from core.checkpoint import load_checkpoint
from tests.tuning.conftest import held, kill_when
from tuning import export, sweep
from tuning.record import trial_history
from tuning.study import load_study

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "user_model"
COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr")


@pytest.fixture
def project(tmp_path):
    """The example of docs/models.md copied to a folder outside the repository."""
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _env() -> dict:
    # seqtune found as an installed package would be; the user's module only through the cwd.
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(module: str, args: list[str], cwd: Path, **kw):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600, **kw)


def test_user_model_trains_and_resumes_bit_exactly(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    args = ["--config", "model.yaml", "--smoke", "--set", "training.epochs=3", "--quiet"]
    assert train.main(args + ["--output-dir", str(project / "full")]) == 0

    calls = {"n": 0}
    real = run.metrics_csv

    def interrupt_after_two(history, *args):
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 2's checkpoint is on disk
            raise KeyboardInterrupt
        return real(history, *args)

    monkeypatch.setattr(run, "metrics_csv", interrupt_after_two)
    part = project / "part"
    assert train.main(args + ["--output-dir", str(part)]) == 130
    monkeypatch.setattr(run, "metrics_csv", real)
    assert train.main(["--resume", str(part), "--quiet"]) == 0

    a = load_checkpoint(project / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    # The user's ConvGRU was built with the config's kwargs and resumed to identical weights.
    assert a["model"]["conv.weight"].shape == (32, 4, 5)
    assert b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    full = [r.split(",")[:5] for r in (project / "full" / "metrics.csv").read_text().splitlines()]
    resumed = [r.split(",")[:5] for r in (part / "metrics.csv").read_text().splitlines()]
    assert full == resumed
    summary = json.loads((part / "summary.json").read_text())
    assert summary["test"]["test_accuracy"] >= 0  # best.pt reloaded into the user model



@pytest.mark.slow
def test_sweep_tunes_user_kwargs_survives_kill_9_and_retrains_exactly(project):
    exp = project / "sweeps" / "u"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuning.sweep", "--space", "space.yaml", "--smoke",
         "--num-samples", "4", "--storage-path", "sweeps", "--name", "u"],
        cwd=project, env={**_env(), **held(project / "faults", "t0003")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    kill_when(exp, proc, lambda trials: sum(t.state.is_finished() for t in trials) >= 1)
    assert sum(t.state.is_finished() for t in load_study(exp).get_trials()) < 4
    resumed = _cli("tuning.sweep", ["--resume", "sweeps/u"], project)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = load_study(exp).get_trials()
    # Four trials, all finished, each with the kwargs the space drew for it.
    assert len(trials) == 4 and all(t.state.is_finished() for t in trials)
    assert all(t.state != TrialState.FAIL for t in trials)
    for t in trials:
        params = t.user_attrs["params"]
        assert params["model.kwargs.channels"] in (16, 32, 64)
        assert params["model.kwargs.kernel"] in (3, 5, 7, 9)
    rows = list(csv.DictReader((exp / "trials.csv").open()))
    assert "param:model.kwargs.hidden" in rows[0]

    out = project / "best.yaml"
    assert export.main([str(exp), "--out", str(out)]) == 0
    key = out.read_text().splitlines()[1].split()[2].rstrip(":")
    run = project / "retrain"
    retrain = _cli("core.train", ["--config", str(out), "--output-dir", str(run), "--quiet"],
                   project)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    standalone = {int(r["epoch"]): r for r in csv.DictReader((run / "metrics.csv").open())}
    # The study holds every epoch of the trial; result.json may miss the one whose line the
    # killed driver had not written yet.
    values = next(t for t in trials if f"t{t.number:04d}" == key).intermediate_values
    assert sorted(standalone) == sorted(values) == [1, 2, 3, 4]
    for epoch, value in values.items():
        # Identical on CPU: the same user model, kwargs, data, seed and thread count.
        assert float(standalone[epoch]["val_accuracy"]) == value, (key, epoch)
    for t in trial_history(exp, key):
        for col in COLUMNS:
            assert float(standalone[t["epoch"]][col]) == float(t[col]), (key, col, t["epoch"])


MODULES = {
    "netok.py": (EXAMPLE / "mynets.py").read_text(),
    "netbroken.py": "import not_installed_dependency\n",
    "netshape.py": "from torch import nn\n\n\ndef build(num_features, num_outputs):\n"
                   "    return nn.Linear(num_features, num_outputs)  # [B, T, K]: per step\n",
}
CONFIG = ("data:\n  synthetic: {num_samples: 200, seq_len: 12}\nexperiment: {device: cpu}\n"
          "model:\n  name: NAME\n  plugins: PLUGINS\n  kwargs: KWARGS\n")
SPACE = "base_config: c.yaml\nmax_epochs: 2\nscheduler: {grace_period: 1}\nparams:\nPARAMS"
LR = "  optim.lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"

# (case, CLI, model.name, model.plugins, model.kwargs, space params, key named)
BAD = [
    ("module missing", "train", "nosuchmod:build", [], {}, "", "model.name"),
    ("module fails to import", "train", "netbroken:build", [], {}, "", "model.name"),
    ("attribute missing", "train", "netok:Missing", [], {}, "", "model.name"),
    ("unexpected kwarg", "train", "netok:ConvGRU", [], {"width": 3}, "", "model.kwargs"),
    ("wrong output shape", "train", "netshape:build", [], {}, "", "model.name"),
    ("plugin missing", "train", "netok:ConvGRU", ["nosuchplugin"], {}, "", "model.plugins[0]"),
    ("sweep: module missing", "sweep", "nosuchmod:build", [], {}, LR, "model.name"),
    ("sweep: tuned kwarg rejected", "sweep", "netok:ConvGRU", [], {},
     "  model.kwargs.widht: {type: categorical, choices: [8, 16]}\n", "model.kwargs"),
    ("sweep: wrong output shape", "sweep", "netshape:build", [], {}, LR, "model.name"),
    ("sweep: built-in field of a user model", "sweep", "netok:ConvGRU", [], {},
     "  model.hidden_size: {type: categorical, choices: [8, 16]}\n",
     "params.model.hidden_size"),
    ("sweep: kwargs of a built-in model", "sweep", "gru", [], {},
     "  model.kwargs.width: {type: categorical, choices: [8, 16]}\n", "model.kwargs"),
]


@pytest.mark.parametrize("case, cli, name, plugins, kwargs, params, key", BAD,
                         ids=[b[0] for b in BAD])
def test_bad_user_model_exits_2_names_the_key_and_writes_nothing(
        tmp_path, monkeypatch, capsys, case, cli, name, plugins, kwargs, params, key):
    mods, work = tmp_path / "mods", tmp_path / "work"
    mods.mkdir()
    work.mkdir()
    for fname, text in MODULES.items():
        (mods / fname).write_text(text)
    monkeypatch.syspath_prepend(str(mods))
    for module in ("netok", "netbroken", "netshape"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.chdir(work)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("NAME", name).replace("PLUGINS", json.dumps(plugins))
                      .replace("KWARGS", json.dumps(kwargs)))
    target = tmp_path / "out"
    if cli == "train":
        code = train.main(["--config", str(config), "--output-dir", str(target)])
    else:
        space = tmp_path / "s.yaml"
        space.write_text(SPACE.replace("PARAMS", params))
        code = sweep.main(["--space", str(space), "--storage-path", str(target), "--name", "x"])
    err = capsys.readouterr().err
    assert code == 2, err
    # The message names the key; an import error shows its last line; no traceback.
    assert f"{key}:" in err and "Traceback" not in err, err
    if case.endswith("fails to import"):
        assert "ModuleNotFoundError: No module named 'not_installed_dependency'" in err
    assert not target.exists() and list(work.iterdir()) == []


def test_models_doc_shows_the_tested_example_verbatim():
    import re

    doc = (ROOT / "docs" / "models.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", doc, flags=re.S)
    # The doc's code blocks are the files the tests above run, character for character.
    assert sorted(p for p, _ in blocks) == [f"docs/examples/user_model/{n}" for n in
                                            ("model.yaml", "mynets.py", "space.yaml")]
    for path, text in blocks:
        assert text == (ROOT / path).read_text(), path


USER = "netok:ConvGRU"
# Valid spaces that put a user model in params: every combination they can draw is valid.
VALID = {
    "user model fixed in params":
        f"  model.name: '{USER}'\n"
        "  model.kwargs.channels: {type: categorical, choices: [4, 8]}\n",
    "built-in and user model, each family's keys conditional":
        f"  model.name: {{type: categorical, choices: [gru, '{USER}']}}\n"
        "  model.hidden_size: {type: categorical, choices: [8, 16], when: {model.name: gru}}\n"
        "  model.kwargs.channels: {type: categorical, choices: [4, 8], when: "
        f"{{model.name: '{USER}'}}}}\n",
    "the same, user model first":
        f"  model.name: {{type: categorical, choices: ['{USER}', gru]}}\n"
        "  model.hidden_size: {type: categorical, choices: [8, 16], when: {model.name: gru}}\n"
        "  model.kwargs.channels: {type: categorical, choices: [4, 8], when: "
        f"{{model.name: '{USER}'}}}}\n",
}


@pytest.mark.parametrize("params", VALID.values(), ids=list(VALID))
def test_valid_spaces_with_a_user_model_in_params_are_accepted(tmp_path, monkeypatch, params):
    from tuning.driver import SweepOptions, prepare

    (tmp_path / "netok.py").write_text(MODULES["netok.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "netok", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("NAME", "gru").replace("PLUGINS", "[]")
                      .replace("KWARGS", "{}"))
    space = tmp_path / "s.yaml"
    space.write_text(SPACE.replace("PARAMS", params))
    monkeypatch.chdir(tmp_path)
    prepared = prepare(SweepOptions(space=space, storage_path=tmp_path / "out"))
    assert {p.name for p in prepared.space.params} >= {"model.name", "model.kwargs.channels"}
    assert not (tmp_path / "out").exists()
    # Without the conditions the same families clash, and the check still says so.
    if "when" in params:
        space.write_text(SPACE.replace("PARAMS", params.replace(
            ", when: {model.name: gru}", "")))
        with pytest.raises(Exception, match="params.model.hidden_size: netok:ConvGRU is a user "
                                            "model"):
            prepare(SweepOptions(space=space, storage_path=tmp_path / "out"))
