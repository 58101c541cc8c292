"""The Python API of the sweep: start one, or read one that finished, runs or was interrupted.

Example (``docs/python-api.md`` runs a complete one)::

    import tuning
    sweep = tuning.run_sweep("search_spaces/gru.yaml", name="gru-a", smoke=True)
    sweep = tuning.load_sweep("runs/sweeps/gru-a")  # later, or while it runs
    sweep.trials            # one row per trial, as trials.csv
    sweep.history("t0003")  # one row per epoch
    sweep.best              # Best(trial='t0005', metric='val_accuracy', value=0.91, ...):
                            # the trial export writes (the confirmed winner after --confirm)
    sweep.search_best       # the search phase's best trial

``run_sweep`` is the driver of ``python -m tuning.sweep`` (``tuning.driver.drive``) with the same
checks; bad input raises instead of exiting 2. ``Sweep`` reads only what is on disk (the study,
the trial directories), through ``tuning.record._results``, the one reader of trial results, so it
is current on every access. Importing this module imports neither Ray nor torch; ``run_sweep``,
``export`` and ``report`` import what they need when called.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuning.record import (
    REPORT_DIR,
    SPEC_FILE,
    STUDY_FILE,
    SweepError,
    is_sweep_dir,
    read_spec,
    running_pid,
    space_of,
    trial_key,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Best", "Sweep", "SweepInterrupted", "load_sweep", "run_sweep"]


@dataclass(frozen=True)
class Best:
    """The sweep's best trial: the one ``best_config.yaml`` and ``python -m tuning.export``
    train.

    After a confirmation phase (``confirmed`` is True; ``tuning.confirm``) it is the confirmed
    winner, the configuration with the best mean over fresh seeds, represented by its first
    completed confirmation run (``trial`` "c0001", its seed in ``params``), with the mean and
    its 95% interval. Otherwise it is the search's best trial by its metric and mode over every
    epoch it reported (errored and non-finite trials are never chosen).
    ``Sweep.search_best`` is always the latter.
    """

    trial: str  # trial key: a search trial ("t0005") or a confirmation run ("c0001")
    number: int  # the trial's number in its study (t0005: 5, c0001: 1)
    metric: str  # the sweep's metric, e.g. "val_accuracy"
    value: float  # the metric at ``epoch``
    epoch: int  # 1-based epoch where the trial scored ``value``
    checkpoint: str | None  # checkpoint file (path or URI) of that epoch, else the trial's newest
    checkpoint_epoch: int | None  # the epoch ``checkpoint`` holds (None without a checkpoint)
    params: dict[str, Any]  # the trial's parameters, by dotted config key
    confirmed: bool = False  # True: the confirmed winner, not the search's maximum
    confirms: str | None = None  # confirmed: the search trial whose configuration won
    confirmed_mean: float | None = None  # confirmed: the metric's mean over its runs (last epoch)
    confirmed_low: float | None = None  # confirmed: its 95% interval (None with one run)
    confirmed_high: float | None = None
    confirmed_runs: int | None = None  # confirmed: its completed runs, one per fresh seed


class SweepInterrupted(RuntimeError):
    """The sweep stopped before all its trials finished (Ctrl-C, or trials missing at the end).

    Nothing finished is lost: ``sweep`` reads what is on disk, and
    ``run_sweep(None, resume=sweep.path)`` continues it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        super().__init__(f"{self.path}: sweep interrupted; continue it with "
                         f"tuning.run_sweep(None, resume={str(self.path)!r})")

    @property
    def sweep(self) -> Sweep:
        """The interrupted sweep, read from disk."""
        return Sweep(self.path)

    def __reduce__(self):
        # Rebuilt from its path (copy and pickle would otherwise pass the message as the path).
        return (type(self), (self.path,))


class Sweep:
    """A sweep's experiment directory, read on each access (it may still be running).

    Args:
        path: the experiment directory (``runs/sweeps/<name>``).

    Raises:
        SweepError: ``path`` holds no sweep (no ``sweep.yaml``).
        ConfigError: its ``sweep.yaml`` is damaged.
    """

    def __init__(self, path: str | Path):
        path = Path(path).expanduser().resolve()
        if not is_sweep_dir(path):
            raise SweepError(f"{path}: not a sweep directory (no {SPEC_FILE})")
        self.path = path
        self.spec = read_spec(path)
        self.space = space_of(self.spec, str(path / SPEC_FILE))

    def __repr__(self) -> str:
        return f"Sweep({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def metric(self) -> str:
        """The metric the sweep optimises (``space.metric``), e.g. ``val_accuracy``."""
        return self.space.metric

    @property
    def mode(self) -> str:
        """"max" or "min": the direction in which ``metric`` improves."""
        return self.space.mode

    @property
    def running(self) -> bool:
        """Whether a driver holds the sweep now (its lock names a live process)."""
        return running_pid(self.path) is not None

    def _study(self):
        from tuning.study import load_study

        if not (self.path / STUDY_FILE).is_file():
            return None  # created, but the driver has not opened its study yet
        return load_study(self.path)

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial, in trial order: the rows of ``trials.csv`` as the sweep writes it
        (``tuning.record.trial_rows``), read now.

        Columns: trial, phase, number, status (completed, pruned, errored, running, waiting),
        epochs, best_<metric>, best_epoch, last_<metric>, failure, gpu, node, checkpoint (path
        or URI), checkpoint_epoch, then ``param:<dotted key>`` per parameter. Empty cells are
        NaN, and the dtypes are those ``pandas.read_csv`` gives ``trials.csv``. A sweep that
        confirmed (``tuning.confirm``) has its confirmation runs (c0000, ...) after the search's
        trials, with ``phase`` "confirm" and ``confirms`` naming the search trial they retrain.
        """
        import pandas as pd

        from tuning.confirm import confirm_key
        from tuning.record import trial_rows, trials_csv_text
        from tuning.study import load_confirm_study

        study = self._study()
        if study is None:
            return pd.DataFrame()
        rows = trial_rows(study, self.path, self.space)
        confirm = load_confirm_study(self.path)
        if confirm is not None:
            rows += trial_rows(confirm, self.path, self.space, phase="confirm",
                               key_of=confirm_key)
        text = trials_csv_text(rows)
        return pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()

    def history(self, trial: str | int) -> pd.DataFrame:
        """One row per epoch that ``trial`` reported, across its runs (a resumed trial's later
        run wins), in epoch order: ``epoch``, the training loop's metrics (losses, validation
        metrics, lr, epoch_time_s in seconds, samples_per_s, ...) and Tune's bookkeeping
        (``time_total_s``, ``timestamp`` in Unix seconds, ``checkpoint_dir_name``).

        Args:
            trial: a trial key (``"t0003"``, or a confirmation run's, ``"c0001"``) or a search
                trial's number (3).

        Raises:
            KeyError: the study has no such trial.
        """
        import pandas as pd

        from tuning.confirm import confirm_key
        from tuning.record import trial_history
        from tuning.study import load_confirm_study

        key = trial_key(trial) if isinstance(trial, int) else str(trial)
        study = self._study()
        keys = [] if study is None else [trial_key(t.number)
                                         for t in study.get_trials(deepcopy=False)]
        confirm = load_confirm_study(self.path) if study is not None else None
        if confirm is not None:
            keys += [confirm_key(t.number) for t in confirm.get_trials(deepcopy=False)]
        if key not in keys:
            raise KeyError(f"{self.path}: no trial {key!r} (trials: {', '.join(keys) or 'none'})")
        rows = [{k: v for k, v in r.items() if k not in ("_dir", "config")}
                for r in trial_history(self.path, key)]
        return pd.DataFrame(rows)

    @property
    def best(self) -> Best | None:
        """The sweep's best so far (``Best``), the trial ``export`` writes: the confirmed winner
        when the sweep confirmed (``tuning.confirm.confirmed_winner``), else ``search_best``;
        None while no trial has a finite metric."""
        from tuning.confirm import confirm_key, confirmed_winner, read_confirmation
        from tuning.study import load_confirm_study

        winner = confirmed_winner(read_confirmation(self.path))
        confirm = load_confirm_study(self.path) if winner is not None else None
        if winner is None or confirm is None:
            return self.search_best
        cand, run = winner
        chosen = next(t for t in confirm.get_trials(deepcopy=False)
                      if confirm_key(t.number) == run)
        best = self._best_of(chosen, confirm, phase="confirm", key_of=confirm_key)
        return dataclasses.replace(best, confirmed=True, confirms=cand["trial"],
                                   confirmed_mean=cand["mean"], confirmed_low=cand["low"],
                                   confirmed_high=cand["high"], confirmed_runs=cand["n"])

    @property
    def search_best(self) -> Best | None:
        """The search phase's best trial (``Best``, ``confirmed`` False): by the sweep's metric
        and mode over every epoch it reported (``tuning.record.best_trial``), warm-start copies
        left out; None while no trial has a finite metric. Without a confirmation it is
        ``best``."""
        from tuning.record import best_trial

        study = self._study()
        if study is None:
            return None
        trials = [t for t in study.get_trials(deepcopy=False)
                  if "warm_start_from" not in t.user_attrs]
        chosen = best_trial(trials, self.mode)
        return None if chosen is None else self._best_of(chosen, study)

    def _best_of(self, chosen, study, *, phase: str = "search", key_of=trial_key) -> Best:
        """``Best`` of the trial ``chosen`` of ``study``: its best epoch, value and checkpoint
        as its trials.csv row has them (``tuning.record.trial_rows``)."""
        from tuning.record import trial_rows

        row = next(r for r in trial_rows(study, self.path, self.space, phase=phase,
                                         key_of=key_of) if r["number"] == chosen.number)
        return Best(trial=row["trial"], number=chosen.number, metric=self.metric,
                    value=float(row[f"best_{self.metric}"]), epoch=int(row["best_epoch"]),
                    checkpoint=row["checkpoint"] or None,
                    checkpoint_epoch=int(row["checkpoint_epoch"])
                    if row["checkpoint_epoch"] != "" else None,
                    params=dict(chosen.user_attrs.get("params") or chosen.params))

    def export(self, path: str | Path, *, trial: str | None = None,
               allow_partial: bool = False, refit: bool | None = None) -> Path:
        """Writes the best (or ``trial``'s) complete standalone config to ``path``, as
        ``python -m tuning.export``: ``core.run_training(path)`` or ``python -m core.train
        --config path`` retrains it; ``refit`` (default: after a cross-validated sweep) writes
        its final model's config instead (``tuning.final``). Returns ``path``, made absolute.

        Raises:
            ValueError: no eligible trial, an unknown trial, or an unfinished or running sweep
                without ``allow_partial``.
        """
        from tuning.export import export_best

        out = Path(path).expanduser().resolve()
        export_best(self.path, out, trial, allow_partial, refit)
        return out

    def report(self, path: str | Path | None = None) -> Path:
        """Writes the HTML report and its PNG figures into the folder ``path`` (default:
        ``<sweep>/report``), as ``python -m tuning.report``; returns the absolute path of
        ``report.html``.

        Raises:
            ValueError: the sweep has no study yet.
        """
        from tuning.report import write_report

        out = Path(path).expanduser().resolve() if path is not None else self.path / REPORT_DIR
        return write_report(self.path, out)


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in the experiment directory ``path``: finished, running or interrupted.

    Raises:
        SweepError: ``path`` holds no sweep.
    """
    return Sweep(path)


def _option_names() -> tuple[set[str], set[str]]:
    from tuning.driver import SweepOptions
    from tuning.execution import RayOptions

    own = {f.name for f in dataclasses.fields(SweepOptions)} - {
        "space", "name", "storage_path", "overrides", "ray"}
    return own, {f.name for f in dataclasses.fields(RayOptions)} - {"smoke"}


def run_sweep(space: str | Path | None, *, name: str | None = None,
              storage_path: str | Path = "runs/sweeps", overrides: tuple[str, ...] | list[str] = (),
              **options: Any) -> Sweep:
    """Starts (or, with ``resume=DIR``, continues) a sweep and runs it to the end, in this
    process, with the driver and checks of ``python -m tuning.sweep``.

    Args:
        space: the search-space YAML; None when resuming.
        name: the experiment's name (default ``<space stem>-<timestamp>``).
        storage_path: parent of experiment directories, or a URI for the trials.
        overrides: ``KEY=VALUE`` strings for the base config (``--set``).
        **options: the command line's other flags by their field names: ``resume``,
            ``num_samples``, ``max_epochs``, ``trials_per_gpu``, ``max_failures``,
            ``warm_start``, ``smoke`` (the tiny CPU sweep), ``confirm`` (``(top_k, seeds)``,
            as ``--confirm K,S``; ``(0, 0)``: off), ``mlflow`` (a tracking URI, as
            ``--mlflow``; docs/tracking.md), and Ray's ``address``, ``mps``,
            ``dashboard``, ``dashboard_port``, ``time_budget`` (seconds), ``verbose`` (Ray's
            trial tables on stdout too).

    Returns:
        The finished ``Sweep``.

    Raises:
        TypeError: an unknown option.
        ConfigError: the space, base config or data are invalid (file and key named).
        SweepError: a bad directory, name or flag, or the sweep is running elsewhere.
            Nothing is written before these checks pass. Also raised when a trial found the
            disk full (the sweep stopped; resume it once there is room).
        SweepInterrupted: the sweep stopped early (Ctrl-C); ``.sweep`` holds what finished.
    """
    from core.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_RESOURCE
    from tuning.driver import SweepOptions, drive
    from tuning.execution import RayOptions

    own, ray = _option_names()
    unknown = sorted(set(options) - own - ray)
    if unknown:
        raise TypeError(f"run_sweep() got unknown options {unknown}; known: "
                        f"{', '.join(sorted(own | ray))}")
    smoke = bool(options.get("smoke", False))
    paths = {k: Path(v) for k in ("resume", "warm_start") if (v := options.get(k)) is not None}
    opts = SweepOptions(
        space=Path(space) if space is not None else None, name=name,
        storage_path=str(storage_path), overrides=list(overrides),
        ray=RayOptions(smoke=smoke, **{k: v for k, v in options.items() if k in ray}),
        **{k: v for k, v in options.items() if k in own and k not in paths}, **paths)
    code, exp_dir = drive(opts)
    if code == EXIT_INTERRUPTED:
        raise SweepInterrupted(exp_dir)
    if code == EXIT_RESOURCE:
        raise SweepError(f"{exp_dir}: a trial found the disk full or read-only (see "
                         f"{exp_dir / 'sweep.log'}); make room, then continue it with "
                         f"run_sweep(None, resume={str(exp_dir)!r})")
    if code != EXIT_OK:
        raise SweepError(f"{exp_dir}: the sweep could not start its trials (mps="
                         f"{opts.ray.mps!r}; see {exp_dir / 'sweep.log'})")
    return Sweep(exp_dir)
