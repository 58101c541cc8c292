"""benchmarks.compare.method_sweep: the space file a's sweep runs, read by the sweep's own
pre-flight (``tuning.driver.new_spec``, no Ray), is sized as the peers' task_setup sized it."""

import copy

import pytest
import yaml

from benchmarks.compare.method_sweep import sizing_differences, sweep_space
from benchmarks.compare.tasks import task_setup
from benchmarks.compare_search import build_parser
from tuning.driver import SweepOptions, new_spec


def _spec_of_a(tmp_path, task, *flags):
    args = build_parser().parse_args(["--task", task, "--trials", "3", *flags])
    args.budget = 90.0
    st = task_setup(task, args.smoke, args.sets)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(sweep_space(st, 0, args), sort_keys=False))
    # as run_sweep's command line gives them: --space, --set (the task's), --metric
    return st, new_spec(SweepOptions(space=path, overrides=list(st.overrides),
                                     metric=st.task.metric))


@pytest.mark.parametrize("task", ["default", "japanese_vowels", "tsc"])
@pytest.mark.parametrize("smoke", [False, True])
def test_as_sweep_sizes_its_space_as_the_peers_got_it(tmp_path, task, smoke):
    st, spec = _spec_of_a(tmp_path, task, *(["--smoke"] if smoke else []))
    assert sizing_differences(spec, st) == []
    assert "cpu" not in spec["space"] and spec["space"]["num_samples"] == 3
    sized = task == "tsc" and not smoke
    # the sweep sized it again at its pre-flight (and printed it), or (smoke) did not size it
    assert bool(spec.get("sized_to_data")) == sized
    if task == "tsc":
        assert spec["base"]["data"]["cv_folds"] == (2 if smoke else 5)
        assert spec["space"]["max_epochs"] == (4 if smoke else 72)
        assert spec["space"]["params"]["training.batch_size"]["choices"] == \
            ([8, 16, 32, 64] if smoke else [4, 8, 16])


def test_a_set_key_is_kept_by_the_sweep_as_by_the_peers(tmp_path):
    st, spec = _spec_of_a(tmp_path, "tsc", "--set", "data.cv_folds=3")
    assert st.cfg.data.cv_folds == 3 and sizing_differences(spec, st) == []


def test_a_sweep_sized_otherwise_is_named(tmp_path):
    st, spec = _spec_of_a(tmp_path, "tsc")
    other = copy.deepcopy(spec)
    other["base"]["data"]["cv_folds"] = 3
    other["space"]["max_epochs"] = 90
    other["space"]["params"]["training.batch_size"]["choices"] = [8, 16, 32]
    assert sizing_differences(other, st) == [
        "data.cv_folds: sweep 3, peers 5", "max_epochs: sweep 90, peers 72",
        "training.batch_size choices: sweep [8, 16, 32], peers [4, 8, 16]"]
