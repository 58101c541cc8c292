"""Methods b and c: stock Ray Tune as documented.

- b: ``OptunaSearch`` (TPE, its defaults) + ``ASHAScheduler`` with the task's rungs, one trial
  per GPU, Ray's own bookkeeping of stopped trials;
- c: random search (Optuna's ``RandomSampler`` through ``OptunaSearch``, since the space has
  conditional parameters), every trial trained to full length.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.compare.summary import write_summary
from benchmarks.compare.tasks import setup_of
from benchmarks.compare.training import WORST, DefineSpace, train_one
from core.config import config_to_dict

__all__ = ["ray_params", "run_ray"]


def run_ray(method: str, seed: int, args, out: Path) -> None:
    """Runs b or c (``method``) for ``args.budget + args.slack`` seconds (or ``args.trials``
    trials, whichever ends first) into ``out``."""
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from core.data import load_data
    from core.errors import NonFiniteLossError

    st = setup_of(args)
    metric, mode = st.task.metric, st.mode
    base, data = config_to_dict(st.cfg), load_data(st.cfg.data, st.cfg.task)

    def trainable(config, data=None):
        def on_epoch(metrics, first_step):
            tune.report({**metrics, "reported_at": time.time(), "first_step_at": first_step})

        try:
            train_one(base, config, st.max_epochs, data, on_epoch, metric, mode)
        except NonFiniteLossError:
            tune.report({metric: WORST[mode], "nonfinite": 1, "reported_at": time.time()})

    if method == "b":
        search = OptunaSearch(space=DefineSpace(st.space.params), metric=metric, mode=mode,
                              seed=seed)
        scheduler = ASHAScheduler(metric=metric, mode=mode, max_t=st.max_epochs,
                                  grace_period=st.grace, reduction_factor=st.rf)
    else:
        search = OptunaSearch(space=DefineSpace(st.space.params), metric=metric, mode=mode,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
        scheduler = None
    ray.init(address="local", logging_level="WARNING",
             **({"num_cpus": 2} if args.smoke else {}))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), resources),
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler,
                                    num_samples=args.trials or 100000,
                                    time_budget_s=args.budget + args.slack),
        run_config=tune.RunConfig(name="ray", storage_path=str(out), verbose=0))
    grid = tuner.fit()
    trials = []
    for result in grid:
        df = result.metrics_dataframe
        if df is None or "reported_at" not in df or "first_step_at" not in df:
            continue
        df = df[df["first_step_at"].notna()]
        if df.empty:
            continue
        trials.append({"first_step": float(df["first_step_at"].iloc[0]),
                       "reports": [float(t) for t in df["reported_at"]],
                       "scores": [float(v) for v in df[metric]],
                       "params": ray_params(df.iloc[0])})
    uncut = None
    try:  # the tool's own answer over the whole run (slack included), for the record
        uncut = dict(grid.get_best_result(metric=metric, mode=mode).config)
    except (RuntimeError, ValueError):
        pass
    ray.shutdown()
    write_summary(out, trials, st, {"tool_choice_uncut": uncut})


def ray_params(row) -> dict:
    """A trial's parameters from a row of Tune's metrics dataframe (``config/<key>`` columns;
    NaN: a conditional parameter left out)."""
    params = {k[len("config/"):]: v.item() if hasattr(v, "item") else v
              for k, v in row.items() if str(k).startswith("config/")}
    return {k: v for k, v in params.items() if v == v}
