"""tuning.confirm: candidates, seeds, intervals, and a smoke sweep's confirmation (CPU)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial
from scipy import stats

from core.config import ConfigError, load_config
from tests import shared_runs
from tests.tuning.conftest import ROOT, SPACE, held, run_sweep, sweep_command
from tuning import confirm as cf
from tuning.space import load_space, parse_space
from tuning.study import load_confirm_study, load_study
from tuning.sweep import build_parser

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trial(number, state, values, params):
    t = create_trial(state=state, value=max(values.values()) if state == TrialState.COMPLETE
                     else None, intermediate_values=values, user_attrs={"params": params})
    t.number = number
    return t


def test_candidates_prefer_complete_trials_and_distinct_configs():
    space = load_space(SPACE)  # max_epochs 20, mode max
    trials = [_trial(0, TrialState.PRUNED, {2: 0.99}, {"a": 1}),
              _trial(1, TrialState.COMPLETE, {20: 0.80}, {"a": 2}),
              _trial(2, TrialState.COMPLETE, {20: 0.90}, {"a": 3}),
              _trial(3, TrialState.COMPLETE, {20: 0.85}, {"a": 3}),  # same config as t0002
              _trial(4, TrialState.PRUNED, {6: 0.70}, {"a": 4})]
    got = cf.candidates(trials, space, 4)
    # Completed at full length first, by score; then pruned ones by depth; duplicates dropped.
    assert [c["trial"] for c in got] == ["t0002", "t0001", "t0004", "t0000"]
    assert got[0]["search_score"] == 0.90 and got[0]["complete"]


def test_fresh_seeds_avoid_used_ones():
    # Seeds the search used are never reused for confirmation.
    assert cf.fresh_seeds(5, {5, 6, 8}, 3) == [7, 9, 10]


def test_interval_matches_scipy():
    values = [0.90, 0.93, 0.91, 0.95]
    mean, sd, low, high = cf.interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    assert low == pytest.approx(ref[0]) and high == pytest.approx(ref[1])
    assert sd == pytest.approx(stats.tstd(values))
    # One value: a mean but no spread.
    assert cf.interval([0.5])[0] == 0.5 and all(v != v for v in cf.interval([0.5])[1:])


def test_interval_of_a_bounded_metric_stays_in_its_range(tmp_path):
    # Issue 17's follow-up: three runs at 1.0, 0.99 and 0.90 gave an upper end above 1.
    space = load_space(SPACE)
    confirm = optuna.create_study(direction="maximize")
    confirm.set_user_attr("candidates", [{"trial": "t0000", "search_score": 1.0}])
    for seed, v in enumerate((1.0, 0.99, 0.90)):
        confirm.add_trial(create_trial(
            state=TrialState.COMPLETE, value=v, intermediate_values={space.max_epochs: v},
            user_attrs={"candidate": 0, "seed": seed, "test_metrics": {"test_accuracy": v}}))
    c = cf.summarize(tmp_path, space, confirm)["candidates"][0]
    assert c["high"] == 1.0 and 0.0 < c["low"] < c["mean"] and c["test_n"] == c["n"] == 3
    assert cf.interval([1.0, 0.99, 0.90])[3] > 1.0  # what was cut


def test_space_validates_confirm_keys(tmp_path):
    raw = yaml.safe_load(SPACE.read_text())
    for bad, key in (({"top_k": -1}, "confirm.top_k"), ({"top_k": 2, "seeds": 0}, "confirm.seeds"),
                     ({"top_k": 2, "seeds": 2, "budget_share": 1.5}, "confirm.budget_share"),
                     ({"top_k": 2, "rounds": 1}, "confirm.rounds")):
        with pytest.raises(ConfigError) as exc:
            parse_space({**raw, "confirm": bad}, "s.yaml", SPACE.parent)
        assert key in str(exc.value)
    space = parse_space({**raw, "confirm": {"top_k": 3, "seeds": 2}}, "s.yaml", SPACE.parent)
    assert (space.confirm_top_k, space.confirm_seeds, space.confirm_budget_share) == (3, 2, 0.2)


def test_confirm_flag_parses_and_rejects(capsys):
    assert build_parser().parse_args(["--confirm", "3,2"]).confirm == (3, 2)
    assert build_parser().parse_args(["--confirm", "0"]).confirm == (0, 0)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--confirm", "3"])
    assert exc.value.code == 2


def _rows(path):
    return list(csv.DictReader(path.open()))


def _confirmed_command(root):
    faults = root / "faults"
    faults.mkdir()
    return (sweep_command(["--space", SPACE, "--smoke", "--num-samples", "4", "--confirm", "2,2",
                           "--storage-path", root, "--name", "c"]),
            {"SEQTUNE_FAULTS": "lucky:t0003:1", "SEQTUNE_FAULT_DIR": str(faults)})


shared_runs.register("confirmed", _confirmed_command)


@pytest.fixture(scope="session")
def confirmed(tmp_path_factory):
    """A smoke sweep of 4 trials with --confirm 2,2 in which t0003 is a lucky outlier: 0.5 is
    added to every val_accuracy it reports during the search (``lucky`` fault), so it ranks first,
    while its confirmation runs report true values. Once per test session, from its start, and
    shared (tests/shared_runs.py): read only."""
    root, proc = shared_runs.result(tmp_path_factory, "confirmed")
    return root / "c", proc


@pytest.mark.slow
def test_winner_is_the_best_confirmed_mean_not_the_lucky_search_best(confirmed):
    exp, proc = confirmed
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((exp / "confirmation.json").read_text())
    cands = summary["candidates"]
    # The lucky trial tops the search, but its confirmed runs see its true (lower) scores.
    assert cands[0]["trial"] == "t0003" and cands[0]["search_score"] >= 0.5
    assert cands[0]["mean"] < cands[0]["search_score"] - 0.4
    assert len(cands) == 2 and all(c["n"] == 2 for c in cands)
    means = [c["mean"] for c in cands]
    assert summary["winner"] == means.index(max(means))
    w = cands[summary["winner"]]
    assert w["low"] <= w["mean"] <= w["high"] and w["test_mean"] is not None
    # Four runs, on two seeds the search never used (it used the base seed, 0).
    assert sorted({r["seed"] for c in cands for r in c["runs"]}) == summary["seeds"] == [1, 2]
    rows = _rows(exp / "trials.csv")
    assert [r["trial"] for r in rows if r["phase"] == "confirm"] == ["c0000", "c0001", "c0002",
                                                                     "c0003"]
    assert all(r["status"] == "completed" and r["epochs"] == "4"
               for r in rows if r["phase"] == "confirm")
    # The search study has exactly the search's 4 trials: its sampler never saw a confirmation.
    assert len(load_study(exp).get_trials()) == 4
    assert len(load_confirm_study(exp).get_trials()) == 4
    table = _rows(exp / "confirmation.csv")
    assert [r["winner"] for r in table] == ["1" if i == summary["winner"] else "0"
                                            for i in range(2)]
    log = (exp / "sweep.log").read_text()
    assert f"confirmed winner: the configuration of {w['trial']}" in log
    # The closing summary names the confirmed configuration, not the run's own best epoch.
    assert f"best: the confirmed configuration of {w['trial']}, trained by its confirmation run"\
        in log
    assert "was not saved" not in log


@pytest.mark.slow
def test_best_config_is_the_confirmed_winner_and_retrains_its_run(confirmed, tmp_path):
    exp, proc = confirmed
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((exp / "confirmation.json").read_text())
    w = summary["candidates"][summary["winner"]]
    header = [h for h in (exp / "best_config.yaml").read_text().splitlines()
              if h.startswith("#")]
    assert any(f"confirmed winner: the configuration of search trial {w['trial']}" in h
               for h in header)
    run_key = next(h.split()[2].rstrip(":") for h in header if h.startswith("# trial c"))
    assert run_key == w["runs"][0]["trial"]
    # The run is scored at its last epoch: the header, and its checkpoint in trials.csv, say so.
    assert any(h.startswith(f"# trial {run_key}: val_accuracy = ") and "at epoch 4 of 4" in h
               for h in header), header
    row = next(r for r in _rows(exp / "trials.csv") if r["trial"] == run_key)
    assert row["checkpoint_epoch"] == "4" and row["checkpoint"]
    assert any(h.endswith(f"over {w['test_n']} run(s)") for h in header) and w["test_n"] == w["n"]
    # Every epoch of every confirmation run reaches the sweep's TensorBoard folder.
    assert all(any((exp / "tensorboard" / r["trial"]).glob("events.out.tfevents.*"))
               for r in w["runs"])
    if w["trial"] != "t0003":
        assert any("search-phase best was t0003" in h for h in header)
    cfg = load_config(exp / "best_config.yaml")
    assert cfg.experiment.seed == w["runs"][0]["seed"]
    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "core.train", "--config",
                            str(exp / "best_config.yaml"), "--output-dir", str(run), "--quiet"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    standalone = list(csv.DictReader((run / "metrics.csv").open()))
    history = {}
    for path in sorted((exp / "tune").glob(f"run-*/{run_key}/result.json")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            for e in [*r.get("earlier_epochs", []), r]:
                history[e["epoch"]] = e
    assert len(standalone) == len(history) == 4
    for s, e in zip(standalone, sorted(history), strict=True):
        for col in ("train_loss", "val_loss", "val_accuracy"):
            # The same seed, data and thread count: the confirmation run's curve, exactly.
            assert float(s[col]) == float(history[e][col]), (run_key, col)


@pytest.mark.slow
def test_python_api_best_is_the_confirmed_winner_and_search_best_the_lucky_trial(confirmed,
                                                                                 tmp_path):
    import tuning

    exp, proc = confirmed
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((exp / "confirmation.json").read_text())
    w = summary["candidates"][summary["winner"]]
    sweep = tuning.load_sweep(exp)
    best, search = sweep.best, sweep.search_best
    # best is what best_config.yaml trains: the winner's first completed confirmation run.
    header = (exp / "best_config.yaml").read_text()
    assert f"# trial {best.trial}:" in header and best.trial == w["runs"][0]["trial"]
    assert best.confirmed and best.confirms == w["trial"] and best.confirmed_runs == w["n"] == 2
    assert (best.confirmed_mean, best.confirmed_low, best.confirmed_high) == \
        pytest.approx((w["mean"], w["low"], w["high"]))
    assert best.params["experiment.seed"] == w["runs"][0]["seed"]
    assert load_config(exp / "best_config.yaml").experiment.seed == best.params["experiment.seed"]
    # Its value and epoch are the run's own, read back from its history.
    curve = sweep.history(best.trial).set_index("epoch")["val_accuracy"]
    assert curve.loc[best.epoch] == pytest.approx(best.value) == curve.max()
    # The search's best is still the lucky outlier, and Sweep.export agrees with best.
    assert search.trial == "t0003" and not search.confirmed and search.value >= 0.5
    exported = sweep.export(tmp_path / "e.yaml").read_text()
    assert f"# trial {best.trial}:" in exported


@pytest.mark.slow
def test_kill_during_confirmation_then_resume_does_not_rerun_finished_runs(tmp_path):
    # A search of 2 trials: what is tested is the confirmation phase, which follows it.
    args = ["--space", str(SPACE), "--smoke", "--num-samples", "2", "--confirm", "1,3",
            "--storage-path", str(tmp_path), "--name", "k"]
    exp = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **held(tmp_path / "faults", "c0002")},
                            start_new_session=True)
    done_before: set[str] = set()
    deadline = time.time() + 500
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                confirm = load_confirm_study(exp)
            except Exception:
                continue
            finished = {cf.confirm_key(t.number) for t in confirm.get_trials()
                        if t.state == TrialState.COMPLETE} if confirm else set()
            if finished:
                done_before = finished
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert done_before, "no confirmation run finished before the driver ended"
    runs_before = {p.name for p in (exp / "tune").glob("run-*")}
    resumed = run_sweep(["--resume", str(exp)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    new_runs = {p.name for p in (exp / "tune").glob("run-*")} - runs_before
    for key in done_before:
        # A run finished before the kill is closed from disk, never trained again.
        assert not any((exp / "tune" / r / key).exists() for r in new_runs), key
    summary = json.loads((exp / "confirmation.json").read_text())
    assert summary["candidates"][0]["n"] == 3 and summary["winner"] == 0
    # No run's test metric is lost to the kill: the mean test metric averages all three.
    assert summary["candidates"][0]["test_n"] == 3
    assert all(r["test"] is not None for r in summary["candidates"][0]["runs"])
    assert all(t.state == TrialState.COMPLETE for t in load_confirm_study(exp).get_trials())


@pytest.mark.slow
def test_report_shows_the_confirmation_table_and_plot(confirmed, tmp_path):
    from tuning.report import write_report

    exp, proc = confirmed
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = write_report(exp, tmp_path).read_text()
    summary = json.loads((exp / "confirmation.json").read_text())
    w = summary["candidates"][summary["winner"]]
    # The section names the winner and shows every candidate's interval, with the plot beside.
    assert "<h2>Confirmation</h2>" in page and f"configuration of {w['trial']}" in page
    assert f"[{w['low']:.4f}, {w['high']:.4f}]" in page
    assert (tmp_path / "confirmation.png").stat().st_size > 0


@pytest.mark.slow
def test_terminal_report_prints_the_confirmation_under_the_search_table(confirmed, tmp_path,
                                                                          capsys):
    """The user check: `python -m tuning.report` printed only the search's trials."""
    from tuning.report import main

    exp, _ = confirmed
    assert main([str(exp), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((exp / "confirmation.json").read_text())
    w = summary["candidates"][summary["winner"]]
    table = out[out.index("confirmation: The top"):]
    assert f"the winner is the configuration of {w['trial']}" in table
    winner_line = next(line for line in table.splitlines() if "(winner)" in line)
    assert w["trial"] in winner_line and f"{w['mean']:.4f}" in winner_line


@pytest.mark.slow
def test_time_budget_ending_during_confirmation_leaves_runs_for_a_resume(tmp_path):
    # A search of 1 trial of 2 epochs well inside 80% of the budget, then a confirmation whose run
    # c0001 is held past the budget's end.
    exp = tmp_path / "b"
    proc = run_sweep(["--space", str(SPACE), "--smoke", "--num-samples", "1", "--max-epochs", "2",
                      "--confirm", "1,2", "--time-budget", "75", "--storage-path",
                      str(tmp_path), "--name", "b"], env=held(tmp_path / "faults", "c0001"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    confirm = load_confirm_study(exp)
    assert confirm is not None, proc.stderr[-3000:]
    seeds = confirm.user_attrs["seeds"]
    held_run = confirm.get_trials()[1]
    # recorded truthfully: still RUNNING (never PRUNED), in the study and trials.csv; a hint
    assert held_run.state == TrialState.RUNNING
    rows = {r["trial"]: r for r in csv.DictReader((exp / "trials.csv").open())}
    assert rows["c0001"]["status"] == "running"
    assert "time budget reached during confirmation" in proc.stderr
    assert "the confirmation is unfinished; finish it with: " in proc.stderr
    assert f"--resume {exp}" in proc.stderr and "nan, nan" not in proc.stderr
    resumed = run_sweep(["--resume", str(exp)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = load_confirm_study(exp).get_trials()
    assert all(t.state == TrialState.COMPLETE for t in runs)
    summary = json.loads((exp / "confirmation.json").read_text())
    assert summary["candidates"][0]["n"] == 2
    assert sorted(r["seed"] for r in summary["candidates"][0]["runs"]) == sorted(seeds)
    assert "nan, nan" not in resumed.stderr and "95% interval [" in resumed.stderr
