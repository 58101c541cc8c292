"""The sweep report: terminal table, self-contained HTML, and a real browser rendering it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuning import report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


@pytest.mark.slow
def test_report_files_and_table(smoke, tmp_path, capsys, monkeypatch):
    exp, _ = smoke
    monkeypatch.chdir(exp.parent)  # a relative sweep path, as users type it
    assert report.main([exp.name, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["trial", "status", "epochs", "best"]
    page = (tmp_path / "report.html").read_text()
    for name in ("best_so_far", "learning_curves", "parameters", "parallel", "importance"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000, name
    # Self-contained: figures are inline, nothing is fetched, no scripts.
    assert page.count("data:image/png;base64,") >= 5
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "Top trials" in page and "checkpoint</a>" in page and "t0002" in page


@pytest.mark.slow
def test_report_renders_in_headless_chromium(smoke, tmp_path):
    exp, _ = smoke
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (CI installs it)")
    report.write_report(exp, tmp_path)
    shot = tmp_path / "shot.png"
    proc = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1280,2000", f"--screenshot={shot}",
                           (tmp_path / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # No console message of any level (errors, failed loads) came from the page.
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    # Not blank: a sizeable share of pixels is not the white background.
    non_white = (pixels[..., :3].min(axis=-1) < 0.9).mean()
    assert non_white > 0.03, non_white


@pytest.mark.slow
def test_report_runs_without_ray_or_torch(smoke, tmp_path):
    exp, _ = smoke
    # The report reads files only: a machine without the training stack can make it.
    code = ("import sys; from tuning import report; "
            f"assert report.main([{str(exp)!r}, '--out', {str(tmp_path)!r}]) == 0; "
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == "[]"


def test_report_refuses_a_non_sweep(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


@pytest.mark.slow
def test_standalone_run_and_trials_write_tensorboard_events(smoke, tmp_path, monkeypatch):
    import core.train as train

    exp, _ = smoke
    assert list(Path(exp / "tune").glob("run-0/t0000/events.out.tfevents*"))
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    run = tmp_path / "run"
    assert train.main(["--smoke", "--quiet", "--output-dir", str(run)]) == 0
    events = list(run.glob("events.out.tfevents*"))
    assert events and events[0].stat().st_size > 100
