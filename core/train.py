"""Standalone training: ``python -m core.train --config configs/gru.yaml``.

Writes a run directory::

    config_snapshot.yaml   the fully resolved config, written first, never changed
    environment.txt        python, torch, CUDA, cuDNN, device, installed packages
    train.log              the run's log
    metrics.csv            one row per epoch
    checkpoints/last.pt    full training state after the latest epoch (+ .sha256)
    checkpoints/best.pt    the same, at the best epoch by training.checkpoint_metric
    summary.json           best epoch and metric, test metrics of best.pt (binary: at the
                           threshold chosen on validation), wall time

Exit codes: 0 done, 2 bad config, data or arguments (nothing written), 3 training failed
(non-finite loss), 130 interrupted (resume with ``--resume RUN_DIR``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

from core.checkpoint import CheckpointError, atomic_write_text, load_checkpoint
from core.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TRAINING,
    EXIT_USAGE,
    int_at_least,
    setup_logging,
)
from core.cli import fail as _fail
from core.config import Config, ConfigError, config_from_dict, config_to_dict, load_config
from core.data import DataError, load_data
from core.plan import plan_steps
from core.tasks import metric_names

log = logging.getLogger("core")

# Tiny run for tests and a first look: seconds on a CPU.
SMOKE_OVERRIDES = [
    "experiment.device=cpu", "training.epochs=2", "training.batch_size=32",
    "data.synthetic.num_samples=360", "data.synthetic.seq_len=16", "model.hidden_size=16",
    "training.log_interval=5",
]



def metric_columns(task_type: str) -> list[str]:
    """metrics.csv's columns: the epoch, the losses, the task's validation metrics (binary: and
    the validation F1 threshold), then lr, timings, step and the best epoch so far."""
    val = [f"val_{name}" for name in metric_names(task_type)]
    if task_type == "binary":
        val.append("val_threshold")
    return ["epoch", "train_loss", *val, "lr", "epoch_time_s", "samples_per_s", "global_step",
            "best_epoch", "best_metric"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="YAML config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set training.epochs=3 (repeatable)")
    p.add_argument("--epochs", type=int_at_least(1), help="shorthand for --set training.epochs=N")
    p.add_argument("--output-dir", type=Path,
                   help="run directory (default runs/train/<name>-<timestamp>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue a stopped run from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run for tests (seconds)")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    return p


def metrics_csv(history: list[dict], task_type: str = "multiclass") -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=metric_columns(task_type), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume is not None:
        if args.config or args.overrides or args.epochs is not None or args.smoke:
            return _fail("--resume continues a run with its saved config; it takes no --config, "
                         "--set, --epochs or --smoke")
        return _resume(args)
    if args.config is None and not args.smoke:
        return _fail("--config is required (or --resume RUN_DIR, or --smoke)")
    overrides = (SMOKE_OVERRIDES if args.smoke else []) + list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"training.epochs={args.epochs}")
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        return _fail(str(exc))
    source = str(args.config) if args.config else "<smoke>"
    if args.output_dir is not None:
        run_dir = args.output_dir
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / "train" / f"{cfg.experiment.name}-{stamp}"
    if run_dir.exists() and any(run_dir.iterdir()):
        return _fail(f"{run_dir} already exists and is not empty; choose another --output-dir "
                     f"or continue it with --resume {run_dir}")
    return _run(cfg, source, run_dir, resume=None, quiet=args.quiet)


def _resume(args) -> int:
    run_dir = args.resume
    snapshot = run_dir / "config_snapshot.yaml"
    if not snapshot.is_file():
        return _fail(f"{run_dir}: not a run directory (no config_snapshot.yaml)")
    try:
        from core.config import load_yaml

        cfg = config_from_dict(load_yaml(snapshot), str(snapshot))
        state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    except (ConfigError, CheckpointError) as exc:
        return _fail(str(exc))
    finished = finished_reason(cfg, state)
    if finished is not None:
        return _fail(f"{run_dir}: already finished ({finished}); nothing to resume")
    return _run(cfg, str(snapshot), run_dir, resume=state, quiet=args.quiet)


def finished_reason(cfg: Config, state: dict) -> str | None:
    """Why the run whose latest checkpoint is ``state`` has ended, or None if it can go on:
    all ``training.epochs`` done, or early stopping (the checkpoint counts the epochs without
    improvement, so this holds whether or not summary.json was written)."""
    if state["epoch"] >= cfg.training.epochs:
        return f"all {cfg.training.epochs} epochs done"
    es = cfg.training.early_stopping
    if es.patience and state.get("es_bad_epochs", 0) >= es.patience:
        return f"early stopping after epoch {state['epoch']}"
    return None


def _run(cfg: Config, source: str, run_dir: Path, resume: dict | None, quiet: bool) -> int:
    from core.env import environment_report
    from core.loop import (
        NonFiniteLossError,
        TrainingError,
        evaluate,
        fit,
        resolve_device,
        task_loss,
    )
    from core.models import build_model, check_model

    # Everything that can be checked is checked before the run directory is created.
    try:
        device = resolve_device(cfg.experiment.device)
        data = load_data(cfg.data, cfg.task)
        check_model(cfg.model, data.num_features, data.num_outputs,
                    seq_len=int(data.train.x.shape[1]), source=source)
        loss_fn = task_loss(cfg, data)  # class weights that do not fit the data fail here
    except ConfigError as exc:
        return _fail(str(exc))
    except DataError as exc:
        return _fail(str(ConfigError(source, [(exc.key, exc.message)])))
    except TrainingError as exc:
        return _fail(f"{source}: {exc}")
    plan = plan_steps(cfg, len(data.train))
    errors, warnings = plan.problems()
    if errors:
        return _fail(str(ConfigError(source, errors)))

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    setup_logging("core", run_dir / "train.log", quiet)
    if resume is None:
        atomic_write_text(run_dir / "config_snapshot.yaml",
                          yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    atomic_write_text(run_dir / "environment.txt", environment_report(device))
    log.info("run directory %s", run_dir)
    log.info("%s", data.describe())
    log.info("%s", plan.describe())
    for warning in warnings:
        log.warning("warning: %s", warning)

    tb = _tensorboard(run_dir)

    def reporter(metrics: dict, write_checkpoint) -> None:
        write_checkpoint(ckpt_dir / "last.pt")
        if metrics["best_epoch"] == metrics["epoch"]:
            write_checkpoint(ckpt_dir / "best.pt")
        history.append(metrics)
        atomic_write_text(run_dir / "metrics.csv", metrics_csv(history, cfg.task.type))
        if tb is not None:
            for key in metric_columns(cfg.task.type)[1:-4]:
                tb.add_scalar(key, metrics[key], metrics["epoch"])
            tb.flush()

    history: list[dict] = [dict(h) for h in resume["history"]] if resume else []
    t0 = time.perf_counter()
    status = "completed"
    try:
        result = fit(cfg, data, reporter=reporter, resume=resume,
                     progress=sys.stderr.isatty() and not quiet, device=device)
    except NonFiniteLossError as exc:
        log.error("%s", exc)
        _write_summary(run_dir, cfg, history, None, time.perf_counter() - t0, "failed", str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TRAINING
    except TrainingError as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python -m core.train --resume {run_dir}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    status = result.stop_reason

    test = None
    if len(data.test) == 0:
        log.info("no test split: summary.json has no test metrics")
    elif (ckpt_dir / "best.pt").exists():
        best = load_checkpoint(ckpt_dir / "best.pt")
        model = build_model(cfg.model, data.num_features, data.num_outputs).to(device)
        model.load_state_dict(best["model"])
        # binary: f1_best applies the threshold chosen on validation at best.pt's epoch
        threshold = best["history"][-1].get("val_threshold")
        test = evaluate(model, data.test, cfg.training.eval_batch_size, device, result.precision,
                        loss_fn.to(device), top_k=cfg.task.top_k, threshold=threshold,
                        target_mean=data.target_mean, target_std=data.target_std)
        log.info("test (best.pt, epoch %d): %s", best["epoch"],
                 "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
    _write_summary(run_dir, cfg, history, test, time.perf_counter() - t0, status, None,
                   has_test=len(data.test) > 0)
    log.info("done: %s", run_dir)
    return EXIT_OK


def _tensorboard(run_dir: Path):
    """A TensorBoard writer for the run directory (``tensorboard --logdir runs/``), or None."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        log.warning("tensorboardX is not installed: no TensorBoard event files")
        return None
    return SummaryWriter(str(run_dir), flush_secs=30)


def _write_summary(run_dir: Path, cfg: Config, history: list[dict], test: dict | None,
                   wall: float, status: str, error: str | None, has_test: bool = True) -> None:
    """summary.json. ``test``: best.pt's test metrics, null with ``test_split: "absent"`` when
    the data have no test split; binary runs also record the validation threshold."""
    metric = cfg.training.checkpoint_metric
    best = history[-1]["best_epoch"] if history else 0
    summary = {
        "status": status,
        "error": error,
        "task": cfg.task.type,
        "epochs_run": len(history),
        "best_epoch": best,
        "checkpoint_metric": metric,
        "checkpoint_mode": cfg.training.checkpoint_mode,
        "best_metric": history[best - 1][metric] if best else None,
        "test_split": "present" if has_test else "absent",
        "test": {f"test_{k}": v for k, v in test.items() if k != "threshold"} if test else None,
        "wall_time_s": round(wall, 3),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    if cfg.task.type == "binary" and best:
        # chosen on validation at the best epoch, applied unchanged to test_f1_best
        summary["val_threshold"] = history[best - 1].get("val_threshold")
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
