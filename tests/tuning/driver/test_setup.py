"""tuning.driver._setup: a new sweep's frozen spec from its options (no Ray, no trials; the checks
that run before anything is written are exercised end to end in test_sweep.py and
tests/test_bad_input.py)."""

from pathlib import Path

import pytest

import tuning.driver._setup as sweep_setup
from core.config import ConfigError
from tuning.driver import SweepOptions, new_spec
from tuning.execution import RayOptions
from tuning.record import space_of

ROOT = Path(__file__).resolve().parents[3]
SPACE = ROOT / "search_spaces" / "gru.yaml"


def test_metric_flag_overrides_the_space_and_takes_its_direction():
    space = ROOT / "search_spaces" / "binary.yaml"  # metric: val_auroc, mode: max
    spec = new_spec(SweepOptions(space=space, metric="val_loss"))
    assert (spec["space"]["metric"], spec["space"]["mode"]) == ("val_loss", "min")
    parsed = space_of(spec, str(space))  # what the sweep, trials.csv, report and export use
    assert (parsed.metric, parsed.mode) == ("val_loss", "min")


# The task after --set decides the metrics: gru.yaml's space selects on val_accuracy, its base
# is multiclass; --set makes the trials regression and --metric picks one of its metrics.
TO_REGRESSION = ["task.type=regression", "training.checkpoint_metric=null",
                 "training.checkpoint_mode=null", "training.early_stopping.mode=null"]


def test_set_task_type_with_a_metric_of_that_task_passes_both_checks():
    spec = new_spec(SweepOptions(space=SPACE, metric="val_rmse", overrides=TO_REGRESSION,
                                 full_size=True))
    assert spec["base"]["task"]["type"] == "regression"
    assert (spec["space"]["metric"], spec["space"]["mode"]) == ("val_rmse", "min")
    # The frozen spec read again (the sweep, trials.csv, report, export) agrees.
    parsed = space_of(spec, str(SPACE))
    assert (parsed.metric, parsed.mode) == ("val_rmse", "min")


def test_set_task_type_alone_with_a_metric_of_that_task_is_a_valid_sweep():
    # configs/gru.yaml states checkpoint_metric val_accuracy, which regression does not produce:
    # the sweep's metric replaces it before the base config is checked.
    spec = new_spec(SweepOptions(space=SPACE, metric="val_rmse", overrides=["task.type=regression"],
                                 full_size=True))
    training = spec["base"]["training"]
    assert (training["checkpoint_metric"], training["checkpoint_mode"]) == ("val_rmse", None)
    assert "the base config's training.checkpoint_metric val_accuracy is not one a regression " \
           "task produces" in spec["metric_alignment"]
    # An explicit --set of another metric of the task is kept, and the log says so.
    kept = new_spec(SweepOptions(space=SPACE, metric="val_rmse", full_size=True, overrides=[
        "task.type=regression", "training.checkpoint_metric=val_mae"]))
    assert kept["base"]["training"]["checkpoint_metric"] == "val_mae"
    assert "--set asks the trials to choose their best epoch" in kept["metric_alignment"]


def test_set_task_type_refuses_the_space_metric_and_a_metric_of_the_old_task():
    import pytest

    from core.config import ConfigError

    # Without --metric, the space's own metric is checked against the task after --set.
    with pytest.raises(ConfigError) as info:
        new_spec(SweepOptions(space=SPACE, overrides=TO_REGRESSION, full_size=True))
    assert str(info.value).startswith(f"{SPACE} (with --set): metric: regression tasks do "
                                      "not produce 'val_accuracy'")
    assert str(info.value).endswith("set metric: in the space to one of them, or give --metric")
    with pytest.raises(ConfigError) as info:
        new_spec(SweepOptions(space=SPACE, metric="val_accuracy", overrides=TO_REGRESSION,
                              full_size=True))
    assert str(info.value).startswith("--metric: regression tasks do not produce "
                                      "'val_accuracy'")


def test_without_a_gpu_the_default_sweep_is_scaled_down(monkeypatch):
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    spec = new_spec(SweepOptions(space=SPACE))
    assert spec["space"]["num_samples"] == 20 and spec["space"]["max_epochs"] == 15
    assert spec["base"]["data"]["synthetic"]["num_samples"] == 4000
    assert "cpu" not in spec["space"] and any("num_samples 48 -> 20" in c
                                              for c in spec["scaled_for_cpu"])
    # A flag still wins; --full-size, a cluster and a GPU keep the full size.
    assert new_spec(SweepOptions(space=SPACE, num_samples=5))["space"]["num_samples"] == 5
    for opts in (SweepOptions(space=SPACE, full_size=True),
                 SweepOptions(space=SPACE, ray=RayOptions(address="auto"))):
        full = new_spec(opts)
        assert full["space"]["num_samples"] == 48 and full["scaled_for_cpu"] == []
        assert full["base"]["data"]["synthetic"]["num_samples"] == 20000
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: True)
    assert new_spec(SweepOptions(space=SPACE))["space"]["max_epochs"] == 20


def test_cpu_scale_down_lists_only_what_it_changed(monkeypatch, tmp_path):
    """The fault from the field: with --num-samples, --max-epochs or NPZ data the message listed
    "num_samples 48 -> 20", "max_epochs 20 -> 15" and data.synthetic.num_samples all the same."""
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    spec = new_spec(SweepOptions(space=SPACE, num_samples=6, max_epochs=3,
                                 overrides=["data.synthetic.num_samples=900"]))
    assert (spec["space"]["num_samples"], spec["space"]["max_epochs"]) == (6, 3)
    assert spec["base"]["data"]["synthetic"]["num_samples"] == 900
    changed = " ".join(spec["scaled_for_cpu"])
    assert "params.model.hidden_size" in changed
    assert not any(k in changed for k in ("num_samples", "max_epochs"))
    data = ROOT / "tests" / "data" / "japanese_vowels.npz"
    npz = new_spec(SweepOptions(space=SPACE, overrides=["data.source=npz", f"data.path={data}"]))
    assert "num_samples 48 -> 20" in npz["scaled_for_cpu"]
    assert not any("data.synthetic" in c for c in npz["scaled_for_cpu"])


def test_smoke_and_confirm_options_shape_the_spec(monkeypatch):
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    spec = new_spec(SweepOptions(space=SPACE, smoke=True, confirm=(2, 3)))
    # --smoke: 8 trials of 4 epochs, every epoch checkpointed, whatever the machine;
    # --confirm K,S lands in the frozen space as its confirm: section.
    assert (spec["space"]["num_samples"], spec["space"]["max_epochs"]) == (8, 4)
    assert spec["space"]["checkpoint_interval_s"] == 0 and spec["scaled_for_cpu"] == []
    assert spec["space"]["confirm"]["top_k"] == 2 and spec["space"]["confirm"]["seeds"] == 3


def test_set_of_a_searched_key_pins_that_parameter(monkeypatch):
    """The user check's fault: `--set training.batch_size=512` was silently overridden by the
    space's searched training.batch_size. It now fixes the parameter at the --set value (its
    `when` kept) and says so; the cpu: section leaves that parameter alone."""
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    spec = new_spec(SweepOptions(space=SPACE, overrides=["training.batch_size=48",
                                                         "schedule.warmup_fraction=0.1"]))
    params = spec["space"]["params"]
    assert params["training.batch_size"] == {"type": "fixed", "value": 48}
    assert params["schedule.warmup_fraction"] == {"type": "fixed", "value": 0.1,
                                                  "when": {"schedule.name": "cosine"}}
    assert params["model.hidden_size"]["choices"] == [32, 64, 128]  # still scaled for the CPU
    assert not any("training.batch_size" in c for c in spec["scaled_for_cpu"])
    assert spec["pinned_by_set"][0] == ("--set training.batch_size=48 pins "
                                        "params.training.batch_size (was categorical [64, 128, "
                                        "256, 512]): every trial uses this value")
    space = space_of(spec, str(SPACE))
    assert {p.name: p.type for p in space.params}["training.batch_size"] == "fixed"
    assert new_spec(SweepOptions(space=SPACE))["pinned_by_set"] == []


def test_the_sweeps_metric_is_the_trials_checkpoint_metric_unless_set_explicitly(tmp_path):
    # configs/gru.yaml states checkpoint_metric val_accuracy: a sweep ranking by val_loss makes
    # it the trials' best-epoch metric too (best.pt, trials.csv and the export agree), and says so.
    spec = new_spec(SweepOptions(space=SPACE, metric="val_loss"))
    assert spec["base"]["training"]["checkpoint_metric"] == "val_loss"
    assert spec["base"]["training"]["checkpoint_mode"] is None
    assert "val_loss" in spec["metric_alignment"] and "val_accuracy" in spec["metric_alignment"]
    same = new_spec(SweepOptions(space=SPACE))
    assert same["base"]["training"]["checkpoint_metric"] == "val_accuracy"
    assert same["metric_alignment"] is None
    # An explicit --set keeps the user's choice, and the log line says the two differ.
    kept = new_spec(SweepOptions(space=SPACE, metric="val_loss",
                                 overrides=["training.checkpoint_metric=val_macro_f1"]))
    assert kept["base"]["training"]["checkpoint_metric"] == "val_macro_f1"
    assert "--set" in kept["metric_alignment"] and "val_macro_f1" in kept["metric_alignment"]
    # On every shipped space, --set training.checkpoint_metric=val_loss is a valid sweep.
    for space in sorted((ROOT / "search_spaces").glob("*.yaml")):
        spec = new_spec(SweepOptions(space=space, metric="val_loss",
                                     overrides=["training.checkpoint_metric=val_loss"]))
        assert spec["base"]["training"]["checkpoint_metric"] == "val_loss"
        assert spec["metric_alignment"] is None


def _prepare(tmp_path, params: str):
    from tuning.driver import prepare

    space = tmp_path / "s.yaml"
    space.write_text(f"base_config: {ROOT / 'configs' / 'gru.yaml'}\nmax_epochs: 2\n"
                     f"params:\n{params}")
    return space, lambda: prepare(SweepOptions(space=space, storage_path=tmp_path / "out",
                                               ray=RayOptions(smoke=True), smoke=True))


def test_a_value_is_checked_with_the_fixed_values_its_conditions_bring(tmp_path):
    # plateau needs interval: epoch and no warmup: the space gives both, only with plateau
    _, prepare = _prepare(tmp_path, (
        "  schedule.name: {type: categorical, choices: [cosine, plateau]}\n"
        "  schedule.interval: {type: fixed, value: epoch, when: {schedule.name: plateau}}\n"
        "  schedule.warmup_fraction: {type: fixed, value: 0, when: {schedule.name: plateau}}\n"))
    prepared = prepare()
    assert [p.name for p in prepared.space.params][0] == "schedule.name"
    # without them, plateau is still refused, naming the key and the file that sets it
    space, prepare = _prepare(tmp_path, (
        "  schedule.name: {type: categorical, choices: [cosine, plateau]}\n"
        "  schedule.warmup_fraction: {type: fixed, value: 0, when: {schedule.name: plateau}}\n"))
    with pytest.raises(ConfigError) as info:
        prepare()
    text = str(info.value)
    assert "params.schedule.name: value 'plateau' gives an invalid config: schedule.interval" \
        in text
    assert f"schedule.interval from {ROOT / 'configs' / 'gru.yaml'}" in text
    assert f"schedule.name from params in {space}" in text


def test_warmup_given_twice_names_both_keys_and_the_file_of_each(tmp_path):
    space, prepare = _prepare(tmp_path, "  schedule.warmup_steps: {type: int, low: 0, "
                                        "high: 300, step: 50}\n")
    with pytest.raises(ConfigError) as info:
        prepare()
    text = str(info.value)
    assert "schedule.warmup_steps is 300 and schedule.warmup_fraction is 0.05" in text
    assert f"schedule.warmup_steps from params in {space}" in text
    assert f"schedule.warmup_fraction from {ROOT / 'configs' / 'gru.yaml'}" in text
    assert not (tmp_path / "out").exists()


def test_smoke_says_it_switches_the_spaces_confirmation_off_and_freezes_it_so(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    space = tmp_path / "c.yaml"
    space.write_text(SPACE.read_text().replace("../configs/", f"{ROOT}/configs/", 1)
                     + "confirm: {top_k: 2, seeds: 3}\n")
    spec = new_spec(SweepOptions(space=space, smoke=True))
    # kept in the frozen spec, switched off, and said at the start of the sweep
    assert spec["space"]["confirm"] == {"top_k": 0, "seeds": 3}
    (note,) = spec["smoke_notes"]
    assert "confirm: (top_k 2, seeds 3) is off for this smoke sweep; --confirm K,S" in note
    assert space_of(spec, str(space)).confirm_top_k == 0
    # --confirm still confirms a smoke sweep, without a note
    spec = new_spec(SweepOptions(space=space, smoke=True, confirm=(2, 2)))
    assert spec["space"]["confirm"]["top_k"] == 2 and spec["smoke_notes"] == []


def _count_parses(monkeypatch) -> list[str]:
    """The sources of the space parses from here on (outermost calls of parse_space: the cpu:
    variant a parse checks inside it is part of that parse)."""
    import tuning.record._directory as directory
    import tuning.space._parse as parse

    real, depth, sources = parse.parse_space, [0], []

    def counting(raw, source, *args, **kwargs):
        sources.extend([source] if depth[0] == 0 else [])
        depth[0] += 1
        try:
            return real(raw, source, *args, **kwargs)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(parse, "parse_space", counting)
    monkeypatch.setattr(directory, "parse_space", counting)
    return sources


def test_a_new_sweep_parses_its_space_file_once(monkeypatch, tmp_path):
    """Issue 25's short walk: the space is parsed and validated once; the sweep's changes (the
    cpu: scale-down, flags, a --set pin, the sizes derived from the data) are checked as edits
    of the parsed space, all together (tuning.space.edited)."""
    from tuning.driver import prepare

    monkeypatch.setattr(sweep_setup, "_has_gpu", lambda: False)
    sources = _count_parses(monkeypatch)
    sweep = prepare(SweepOptions(space=SPACE, storage_path=tmp_path, num_samples=6,
                                 overrides=["training.batch_size=48"]))
    assert sources == [str(SPACE)]
    assert (sweep.space.num_samples, sweep.space.max_epochs) == (6, 15)  # flag, cpu: section
    assert {p.name: p.value for p in sweep.space.params}["training.batch_size"] == 48
    assert sweep.space.raw == sweep.spec["space"]  # what sweep.yaml freezes
    # --max-epochs 5 is below tsc.yaml's grace_period 10: valid, as the sizes from the data
    # then set the grace period to a tenth of the trial.
    tsc = ROOT / "search_spaces" / "tsc.yaml"
    data = ROOT / "tests" / "data" / "italy_power_demand.npz"
    sources.clear()
    sweep = prepare(SweepOptions(space=tsc, storage_path=tmp_path, max_epochs=5,
                                 overrides=["data.source=npz", f"data.path={data}"]))
    assert sources == [str(tsc)]
    assert (sweep.space.max_epochs, sweep.space.grace_period) == (5, 1)
    assert sweep.spec["sized_to_data"] and not any(tmp_path.iterdir())


def test_an_option_the_command_line_would_refuse_is_named_with_its_key():
    # run_sweep passes its keyword arguments without argparse's checks: the edit checks them.
    for opts, key, words in [
            (SweepOptions(space=SPACE, num_samples=0, full_size=True), "num_samples",
             "must be >= 1"),
            (SweepOptions(space=SPACE, max_epochs=1, full_size=True), "scheduler.grace_period",
             "must be <= max_epochs (1)"),
            (SweepOptions(space=SPACE, trials_per_gpu=0, full_size=True),
             "resources.trials_per_gpu", "must be >= 1")]:
        with pytest.raises(ConfigError) as info:
            new_spec(opts)
        assert str(info.value).startswith(f"{SPACE}: ")
        assert any(k == key and words in m for k, m in info.value.problems)


def test_an_imbalanced_binary_sweep_on_plain_accuracy_warns_once_at_pre_flight(tmp_path):
    # The embedded data made binary: class 1 against the others (a small minority); every
    # trial warned in sweep.log only, the console's pre-flight said nothing.
    from tuning.driver import prepare

    opts = SweepOptions(space=SPACE, smoke=True, storage_path=tmp_path / "out",
                        overrides=["task.type=binary", "task.positive_class=1",
                                   "training.checkpoint_metric=null"])
    checks = prepare(opts).checks
    warned = [line for level, line in checks if level == "warning" and "plain" in line]
    assert len(warned) == 1 and warned[0].startswith("metric: the minority class is")
    assert "val_accuracy is plain accuracy" in warned[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # The sweep's own metric on the same data: nothing to warn about.
    auroc = prepare(SweepOptions(space=SPACE, smoke=True, storage_path=tmp_path / "out",
                                 metric="val_auroc", overrides=opts.overrides)).checks
    assert not any("plain" in line for _, line in auroc)
