"""tuning.report_figures: the report's figures drawn from collected data (no sweep, no Ray)."""

import math
from pathlib import Path

import matplotlib
import optuna
import pytest

from tuning.report_figures import confirmation_figure, score_key, search_figures
from tuning.space import parse_space

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPACE = {"base_config": str(ROOT / "configs" / "gru.yaml"), "metric": "val_loss",
         "max_epochs": 6, "params": {
             "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
             "model.hidden_size": {"type": "categorical", "choices": [8, 16]}}}


def _data(n: int) -> dict:
    """``tuning.report.collect``'s shape for n finished trials (val_loss: lower is better)."""
    space = parse_space(SPACE, "space.yaml", ROOT)
    study = optuna.create_study(direction="minimize")
    rows, curves = [], {}
    for i in range(n):
        lr, hidden = 10 ** (-4 + 2 * i / max(n - 1, 1)), (8, 16)[i % 2]
        value = 1.0 + (i - n / 2) ** 2 / n
        study.add_trial(optuna.trial.create_trial(
            params={"optim.lr": lr, "model.hidden_size": hidden}, value=value,
            distributions={"optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2,
                                                                              log=True),
                           "model.hidden_size": optuna.distributions.CategoricalDistribution(
                               [8, 16])}))
        key = f"t{i:04d}"
        rows.append({"trial": key, "number": i, "status": ("completed", "pruned")[i % 2],
                     "best_val_loss": value, "param:optim.lr": lr,
                     "param:model.hidden_size": hidden})
        curves[key] = [(e, value + 1 / e, 1000.0 + 10 * i + e) for e in range(1, 4)]
    return {"space": space, "study": study, "rows": rows, "curves": curves}


def test_score_key_ranks_by_the_metric_in_its_direction_and_non_finite_last():
    space = parse_space(SPACE, "space.yaml", ROOT)  # val_loss: min
    rows = [{"best_val_loss": 0.5}, {"best_val_loss": math.nan}, {"best_val_loss": 0.2},
            {"best_val_loss": ""}]
    ranked = sorted(rows, key=score_key(space), reverse=True)
    assert [r["best_val_loss"] for r in ranked[:2]] == [0.2, 0.5]
    up = parse_space({**SPACE, "metric": "val_accuracy"}, "space.yaml", ROOT)  # max
    ranked = sorted([{"best_val_accuracy": 0.5}, {"best_val_accuracy": 0.9}], key=score_key(up),
                    reverse=True)
    assert [r["best_val_accuracy"] for r in ranked] == [0.9, 0.5]


def test_the_search_figures_and_importances_once_there_are_enough_trials():
    figures, missing = search_figures(plt, _data(12))
    assert [stem for stem, _, _ in figures] == ["best_so_far", "learning_curves", "parameters",
                                                "importance", "parallel"]
    assert missing is None
    curves = figures[1][2].axes[0]
    assert sum(len(line.get_xdata()) == 3 for line in curves.lines) == 12  # 3 epochs each
    for _, _, fig in figures:
        plt.close(fig)
    figures, missing = search_figures(plt, _data(0))  # no finished trial: nothing to say
    assert "importance" not in [stem for stem, _, _ in figures] and missing is None
    for _, _, fig in figures:
        plt.close(fig)


def test_importances_optuna_cannot_compute_are_said_not_drawn(monkeypatch):
    def refuse(study):
        raise RuntimeError("too few trials per parameter regime")

    monkeypatch.setattr(optuna.importance, "get_param_importances", refuse)
    figures, missing = search_figures(plt, _data(4))
    assert "importance" not in [stem for stem, _, _ in figures]
    assert missing == "not available yet: too few trials per parameter regime"
    for _, _, fig in figures:
        plt.close(fig)


def test_the_confirmation_figure_marks_each_confirmed_candidate_and_the_winner():
    conf = {"metric": "val_loss", "winner": 1, "candidates": [
        {"trial": "t0003", "search_score": 0.30, "mean": 0.34, "low": 0.30, "high": 0.38},
        {"trial": "t0007", "search_score": 0.31, "mean": 0.32, "low": None, "high": None},
        {"trial": "t0001", "search_score": 0.33, "mean": None, "low": None, "high": None}]}
    fig = confirmation_figure(plt, conf)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["t0003", "t0007 (winner)"]  # no run finished: no point
    assert "95% interval" in fig.axes[0].get_ylabel()
    plt.close(fig)
    with pytest.raises(KeyError):  # a summary without candidates is not one
        confirmation_figure(plt, {"metric": "val_loss", "winner": None})
