"""tuning.driver._options: the command line read into typed options."""

from pathlib import Path

from tuning.driver import SweepOptions
from tuning.sweep import RESUME_REFUSES, build_parser


def test_every_flag_lands_in_its_field():
    args = build_parser().parse_args([
        "--space", "s.yaml", "--name", "n", "--storage-path", "/tmp/x", "--num-samples", "5",
        "--max-epochs", "3", "--metric", "val_loss", "--trials-per-gpu", "2",
        "--max-failures", "0", "--set", "a=1", "--set", "b=2", "--address", "auto",
        "--mps", "off", "--dashboard", "--dashboard-port", "9000", "--warm-start", "w",
        "--confirm", "3,2", "--time-budget", "60", "--smoke", "--full-size"])
    opts = SweepOptions.from_args(args)
    assert opts == SweepOptions(
        space=Path("s.yaml"), name="n", storage_path="/tmp/x", num_samples=5, max_epochs=3,
        metric="val_loss", trials_per_gpu=2, max_failures=0, full_size=True,
        overrides=["a=1", "b=2"], warm_start=Path("w"), smoke=True, confirm=(3, 2),
        ray=opts.ray)
    ray = opts.ray
    assert (ray.address, ray.mps, ray.dashboard, ray.dashboard_port, ray.time_budget,
            ray.smoke) == ("auto", "off", True, 9000, 60.0, True)


def test_defaults_of_an_empty_command_line():
    # No flag: the dataclass's defaults (max_failures 2, runs/sweeps), not argparse's None.
    assert SweepOptions.from_args(build_parser().parse_args([])) == SweepOptions()


def test_every_flag_a_resume_refuses_is_an_option():
    fields = set(SweepOptions.__dataclass_fields__)
    assert set(RESUME_REFUSES) <= fields


def test_the_options_reach_the_drive_and_its_set_up_only():
    """Issue 25's short walk: the entry points (tuning.sweep, tuning.api) build SweepOptions and
    hand them to the driver, whose drive and set-up read them; the modules beyond (sizes,
    pre-flight, the study, ...) get the values they need, not the options."""
    import ast

    root = Path(__file__).resolve().parents[3]
    users = set()
    for path in sorted((root / "tuning").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.id if isinstance(node, ast.Name) else \
                node.name if isinstance(node, ast.alias) else None
            if name == "SweepOptions":
                users.add(path.relative_to(root).as_posix())
    assert users == {"tuning/sweep.py", "tuning/api.py", "tuning/driver/__init__.py",
                     "tuning/driver/_options.py", "tuning/driver/_drive.py",
                     "tuning/driver/_setup.py"}
