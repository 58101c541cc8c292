import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import core.run as run
import core.train as train
from core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_cli_end_to_end_writes_every_artifact(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "core.train", "--config", "configs/gru.yaml",
                           "--smoke", "--output-dir", str(run)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("config_snapshot.yaml", "environment.txt", "metrics.csv", "summary.json",
                 "train.log", "checkpoints/best.pt", "checkpoints/last.pt",
                 "checkpoints/last.pt.sha256"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test"]["test_accuracy"] >= 0
    assert "torch:" in (run / "environment.txt").read_text()
    assert "data: 4 features, 9 classes" in (run / "train.log").read_text()


def test_bad_config_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  epochs: -1\n")
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "core.train", "--config", str(bad),
                           "--output-dir", str(run)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert f"{bad}: training.epochs: must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr and not run.exists()


def test_missing_data_file_exits_2_naming_key(tmp_path):
    run = tmp_path / "run"
    code = train.main(["--config", "configs/gru.yaml", "--set", "data.source=csv",
                       "--set", f"data.path={tmp_path / 'none.csv'}", "--output-dir", str(run)])
    assert code == 2 and not run.exists()


def test_cli_resume_continues_bit_exactly(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = ["--smoke", "--set", "training.epochs=3", "--set", "model.dropout=0.2",
            "--set", "model.num_layers=2", "--quiet"]
    assert train.main(args + ["--output-dir", str(tmp_path / "full")]) == 0

    calls = {"n": 0}
    real = run.metrics_csv

    def interrupt_after_two(history, *args):
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 2's checkpoint is on disk, its CSV row is not
            raise KeyboardInterrupt
        return real(history, *args)

    monkeypatch.setattr(run, "metrics_csv", interrupt_after_two)
    part = tmp_path / "part"
    assert train.main(args + ["--output-dir", str(part)]) == 130
    monkeypatch.setattr(run, "metrics_csv", real)
    assert load_checkpoint(part / "checkpoints" / "last.pt")["epoch"] == 2
    assert train.main(["--resume", str(part), "--quiet"]) == 0

    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    assert b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    full_rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    part_rows = (part / "metrics.csv").read_text().splitlines()
    assert len(part_rows) == 4
    # Same losses and accuracies per epoch (timing columns differ).
    assert [r.split(",")[:5] for r in full_rows] == [r.split(",")[:5] for r in part_rows]


def _files(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("extra,reason", [
    ([], "already finished (all 2 epochs done)"),
    # min_delta 100: epoch 2 cannot improve on epoch 1, so patience 1 stops after epoch 2 of 4.
    (["--set", "training.epochs=4", "--set", "training.early_stopping.patience=1",
      "--set", "training.early_stopping.min_delta=100"],
     "already finished (early stopping after epoch 2)"),
])
def test_resume_of_a_finished_run_exits_2_and_leaves_it_untouched(tmp_path, monkeypatch, capsys,
                                                                   extra, reason):
    monkeypatch.chdir(ROOT)
    run = tmp_path / "r"
    assert train.main(["--smoke", "--quiet", "--output-dir", str(run), *extra]) == 0
    before = _files(run)
    capsys.readouterr()
    assert train.main(["--resume", str(run)]) == 2
    assert reason in capsys.readouterr().err
    # Not a byte or a timestamp changed: no epoch trained, no log line appended.
    assert _files(run) == before


def test_resume_refuses_extra_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    run = tmp_path / "r"
    assert train.main(["--smoke", "--quiet", "--set", "training.epochs=3",
                       "--output-dir", str(run)]) == 0
    for extra in (["--set", "training.epochs=9"], ["--epochs", "5"], ["--smoke"],
                  ["--config", "configs/gru.yaml"]):
        assert train.main(["--resume", str(run), *extra]) == 2
        assert "--resume continues a run with its saved config" in capsys.readouterr().err
    assert train.main(["--smoke", "--output-dir", str(run)]) == 2  # never overwrites a run


@pytest.mark.parametrize("damage", ["truncate", "empty", "bitflip"])
def test_resume_from_damaged_checkpoint_fails_naming_it(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.chdir(ROOT)
    run = tmp_path / "r"
    assert train.main(["--smoke", "--quiet", "--set", "training.epochs=3",
                       "--output-dir", str(run)]) == 0
    last = run / "checkpoints" / "last.pt"
    data = bytearray(last.read_bytes())
    data = {"truncate": data[: len(data) // 3], "empty": bytearray(),
            "bitflip": data[:100] + bytearray([data[100] ^ 1]) + data[101:]}[damage]
    last.write_bytes(bytes(data))
    # Make the run look unfinished so that --resume would continue it.
    snapshot = run / "config_snapshot.yaml"
    snapshot.write_text(snapshot.read_text().replace("epochs: 3", "epochs: 5"))
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    capsys.readouterr()
    assert train.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    # The error names the damaged file; nothing restarts and nothing is written.
    assert str(last) in err and "Traceback" not in err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def _task_run(tmp_path, monkeypatch, task_type, *extra):
    """core.train --smoke on the shipped config of ``task_type`` (its synthetic variant)."""
    monkeypatch.chdir(ROOT)
    run = tmp_path / task_type
    code = train.main(["--config", f"configs/{task_type}.yaml", "--smoke", "--quiet", *extra,
                       "--output-dir", str(run)])
    return code, run


@pytest.mark.parametrize("task_type", ["binary", "multilabel", "regression"])
def test_each_shipped_task_config_trains_end_to_end(tmp_path, monkeypatch, task_type):
    from core.tasks import metric_names

    code, run = _task_run(tmp_path, monkeypatch, task_type)
    assert code == 0
    with (run / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    assert header == train.metric_columns(task_type)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["task"] == task_type
    assert set(summary["test"]) == {f"test_{m}" for m in metric_names(task_type)}
    assert all(v == v for v in summary["test"].values())  # no NaN


def test_binary_run_carries_the_validation_threshold_to_test(tmp_path, monkeypatch):
    from core.evaluate import evaluate
    from core.loop import task_loss
    from core.models import build_model

    code, run = _task_run(tmp_path, monkeypatch, "binary")
    assert code == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert {"val_auroc", "val_average_precision", "val_f1_best", "val_threshold"} <= rows[0].keys()
    summary = json.loads((run / "summary.json").read_text())
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert summary["checkpoint_metric"] == "val_auroc" and summary["task"] == "binary"
    assert summary["val_threshold"] == best["history"][-1]["val_threshold"]
    # test_f1_best is test F1 at the validation threshold, recomputed here from best.pt
    cfg = train.config_from_dict(best["config"])
    data = train.load_data(cfg.data, cfg.task)
    assert data.task == "binary"
    model = build_model(cfg.model, data.num_features, 1)
    model.load_state_dict(best["model"])
    again = evaluate(model, data.test, 64, torch.device("cpu"), "fp32", task_loss(cfg, data),
                     threshold=summary["val_threshold"])
    assert summary["test"]["test_f1_best"] == pytest.approx(again["f1_best"])
    assert set(summary["test"]) == {f"test_{k}" for k in again if k != "threshold"}


def test_regression_summary_is_in_original_units_and_says_when_there_is_no_test(tmp_path,
                                                                               monkeypatch):
    code, run = _task_run(tmp_path, monkeypatch, "regression")
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["checkpoint_metric"] == "val_rmse" and summary["checkpoint_mode"] == "min"
    assert summary["test_split"] == "present"
    # recomputed from best.pt's predictions in the targets' original units
    from sklearn.metrics import mean_squared_error

    from core.models import build_model

    best = load_checkpoint(run / "checkpoints" / "best.pt")
    cfg = train.config_from_dict(best["config"])
    data = train.load_data(cfg.data, cfg.task)
    model = build_model(cfg.model, data.num_features, data.num_outputs).eval()
    model.load_state_dict(best["model"])
    with torch.no_grad():
        pred = model(data.test.x, data.test.lengths) * data.target_std + data.target_mean
    true = data.test.y * data.target_std + data.target_mean
    rmse = sum(mean_squared_error(true[:, j], pred[:, j]) ** 0.5
               for j in range(true.shape[1])) / true.shape[1]
    assert summary["test"]["test_rmse"] == pytest.approx(rmse, rel=1e-4)
    code, run = _task_run(tmp_path / "b", monkeypatch, "regression", "--set",
                          "data.test_fraction=0")
    summary = json.loads((run / "summary.json").read_text())
    assert code == 0 and summary["test"] is None and summary["test_split"] == "absent"


def test_metric_of_another_task_and_unfit_weights_exit_2_writing_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--smoke", "--set", "task.type=regression", "--set",
                       "training.checkpoint_metric=val_accuracy", "--output-dir",
                       str(run)]) == 2
    err = capsys.readouterr().err
    assert "training.checkpoint_metric: regression tasks do not produce 'val_accuracy'" in err
    assert "val_rmse, val_mae, val_r2" in err and not run.exists()
    assert train.main(["--smoke", "--set", "task.class_weight=[1, 2]", "--output-dir",
                       str(run)]) == 2
    err = capsys.readouterr().err
    assert "task.class_weight: expected 9 numbers" in err and not run.exists()
    # A --set of task.type that makes the file's own checkpoint metric wrong: the command line
    # is named with the file, and the fix with the task's default.
    assert train.main(["--config", str(ROOT / "configs" / "gru.yaml"), "--smoke", "--set",
                       "task.type=regression", "--output-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "configs/gru.yaml (with --set): training.checkpoint_metric: regression tasks do " \
           "not produce 'val_accuracy'" in err
    assert "set training.checkpoint_metric to one of them (null: the regression default, " \
           "val_rmse)" in err and not run.exists()


def test_unwritable_output_dir_exits_2_naming_the_flag_before_training(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(ROOT)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    assert train.main(["--smoke", "--output-dir", str(in_the_way / "run")]) == 2
    err = capsys.readouterr().err
    assert f"--output-dir: {in_the_way / 'run'}" in err and "is not a directory" in err
    # A read-only disk (as root, a mode cannot make one; the probe's OSError is the disk's).
    import errno

    import core.run_dir as run_dir_module

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(run_dir_module.tempfile, "TemporaryFile", read_only)
    out = tmp_path / "ro" / "run"
    assert train.main(["--smoke", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --output-dir: {out}: cannot write to {tmp_path}: "
                          f"Read-only file system")
    assert "Traceback" not in err and not (tmp_path / "ro").exists()


def _disk_fills_at_write(monkeypatch, n: int):
    """The n-th checkpoint file written (data or digest) fails with ENOSPC, as on a full disk."""
    import errno

    import core.checkpoint as checkpoint

    real, calls = checkpoint.atomic_write_bytes, {"n": 0}

    def write(path, data, durable=True):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, durable)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", write)
    return real


def test_full_disk_exits_4_with_one_line_and_resume_completes(tmp_path, monkeypatch, capsys):
    import core.checkpoint as checkpoint

    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    # epoch 1 writes best.pt and last.pt; the disk fills at epoch 2's first checkpoint
    real = _disk_fills_at_write(monkeypatch, 3)
    assert train.main(["--smoke", "--quiet", "--output-dir", str(out)]) == 4
    err = capsys.readouterr().err
    assert "No space left on device (errno 28)" in err and "Traceback" not in err
    assert f"python -m core.train --resume {out}" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["error"]
    assert "error: cannot write" in (out / "train.log").read_text()
    # a resume onto a disk that is still read-only is refused before anything is written
    import errno

    import core.run_dir as run_dir_module

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:
        m.setattr(run_dir_module.tempfile, "TemporaryFile", read_only)
        before = _files(out)
        assert train.main(["--resume", str(out)]) == 2
        assert "--resume: " in capsys.readouterr().err and _files(out) == before
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", real)  # room is made
    assert train.main(["--resume", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test"] is not None
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    assert best["epoch"] == summary["best_epoch"]


def test_a_run_that_lost_its_best_checkpoint_never_says_completed(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    # the smoke run's val_accuracy falls at epoch 2 (seeded): epoch 1 stays best
    args = ["--smoke", "--quiet", "--output-dir", str(out)]
    _disk_fills_at_write(monkeypatch, 3)
    assert train.main(args) == 4
    (out / "checkpoints" / "best.pt").unlink()  # lost, leaving its .sha256 (as before the fix)
    monkeypatch.undo()
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    assert train.main(["--resume", str(out)]) == 4
    err = capsys.readouterr().err
    assert "warning: checkpoints/best.pt of epoch 1 was lost" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_epoch"] == 1, "precondition: epoch 1 stays best"
    assert summary["status"] == "failed" and "best.pt of epoch 1 was lost" in summary["error"]
    assert summary["test"] is None and "Traceback" not in err


class _HungryModel(torch.nn.Module):
    def __init__(self, num_features, num_outputs):
        super().__init__()
        self.out = torch.nn.Linear(num_features, num_outputs)

    def forward(self, x, lengths=None):
        if x.shape[0] > 2:  # the pre-flight's probe batch of 2 fits; a training batch does not
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 48.00 GiB")
        return self.out(x.mean(1))


def build_hungry(num_features, num_outputs):
    return _HungryModel(num_features, num_outputs)


def test_out_of_memory_exits_4_with_summary_and_log_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    code = train.main(["--smoke", "--quiet", "--set",
                       "model.name=tests.core.test_train_cli:build_hungry",
                       "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 4 and "Traceback" not in err
    assert "error: out of memory (CUDA out of memory. Tried to allocate 48.00 GiB); lower " \
           "training.batch_size" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith("out of memory")
    assert "error: out of memory" in (out / "train.log").read_text()


def test_cpu_allocator_failure_is_out_of_memory_too():
    from core.errors import is_out_of_memory, is_out_of_space

    try:
        torch.empty(1 << 62, dtype=torch.uint8)
    except RuntimeError as exc:
        assert is_out_of_memory(exc)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert is_out_of_space(OSError(28, "No space left on device"))
    assert not is_out_of_space(OSError(2, "No such file"))


def _epoch_lines(text: str, epochs: int) -> list[int]:
    return [int(n) for n in re.findall(rf"^\S+ epoch (\d+)/{epochs} ", text, re.M)]


def test_a_long_run_shows_a_bounded_console_and_keeps_every_epoch_in_train_log(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    tiny = ["--smoke", "--set", "data.synthetic.num_samples=100", "--set", "model.hidden_size=4"]
    assert train.main(tiny + ["--epochs", "40", "--output-dir", str(tmp_path / "a")]) == 0
    shown = _epoch_lines(capsys.readouterr().err, 40)
    # about EPOCH_LINES evenly spaced (every 2nd), the first and last, a few new bests
    assert shown[0] == 1 and shown[-1] == 40 and 20 <= len(shown) <= 30, shown
    log = (tmp_path / "a" / "train.log").read_text()
    assert _epoch_lines(log, 40) == list(range(1, 41))
    assert " left" not in log  # the console's ending stays on the console
    rows = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    assert len(rows) == 40

    assert train.main(tiny + ["--epochs", "31", "--verbose",
                              "--output-dir", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert _epoch_lines(err, 31) == list(range(1, 32))
    assert re.search(r"epoch 30/31 .* \| .*about \d+s left$", err, re.M)


def test_verbose_and_quiet_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(["--smoke", "--quiet", "--verbose"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
