"""The console of a training run (core.console): every epoch of a short run, a bounded selection
of a long one's with its new bests, the last epoch always, each line with the best epoch and the
time left."""

import io
import logging
import re

import pytest

from core.console import EPOCH_LINES, SHOW_ALL, EpochConsole, epoch_extra, format_duration


def _run(handler, epochs, *, stop_at=None, seconds_per_epoch=1.0, best_every=1, t0=1000.0):
    """Feeds ``handler`` the epoch lines of a run (a new best every ``best_every`` epochs) at a
    simulated clock, then an early-stopping line when ``stop_at`` is given; returns the lines."""
    logger = logging.getLogger("test_console")
    last = stop_at or epochs
    best = 0
    for epoch in range(1, last + 1):
        if epoch % best_every == 0 or epoch == 1:
            best = epoch
        metrics = {"epoch": epoch, "epoch_time_s": seconds_per_epoch, "best_epoch": best,
                   "best_metric": 0.5 + best / 10_000}
        record = logger.makeRecord("test_console", logging.INFO, __file__, 1,
                                   "epoch %d/%d  train_loss 0.1", (epoch, epochs), None,
                                   extra=epoch_extra(metrics, epochs, "val_accuracy"))
        record.created = t0 + epoch * seconds_per_epoch
        handler.handle(record)
    if stop_at:
        record = logger.makeRecord("test_console", logging.INFO, __file__, 1, "early stopping",
                                   (), None)
        handler.handle(record)
    return handler.stream.getvalue().splitlines()


def _epochs(lines):
    return [int(m.group(1)) for m in (re.match(r"epoch (\d+)/", ln) for ln in lines) if m]


def test_a_long_run_shows_a_bounded_number_of_epoch_lines_first_last_and_bests():
    # 2,000 epochs of 1 s each, a new best every 7 epochs: evenly spaced lines, the last, and
    # bests no more often than 1/EPOCH_LINES of the run
    lines = _run(EpochConsole(io.StringIO()), 2000, best_every=7)
    shown = _epochs(lines)
    assert shown[0] == 1 and shown[-1] == 2000
    assert EPOCH_LINES <= len(shown) <= 2 * EPOCH_LINES + 2
    assert sorted(shown) == shown and len(set(shown)) == len(shown)
    assert {1, 101, 1001, 1901, 2000} <= set(shown)
    marked = [ln for ln in lines if ln.endswith("left") and "new best" in ln]
    assert any(e % 7 == 0 and e % 100 != 1 for e in _epochs(marked)), "no best shown alone"
    # each line: the best so far and the time left at the mean epoch time
    assert lines[1].startswith("epoch 101/2000") and lines[1].endswith(
        f"about {format_duration(1899)} left")
    assert "best val_accuracy 0.5098 (epoch 98)" in lines[1]
    assert "left" not in lines[-1]


def test_a_run_of_few_epochs_shows_every_one():
    lines = _run(EpochConsole(io.StringIO()), SHOW_ALL)
    assert _epochs(lines) == list(range(1, SHOW_ALL + 1))


def test_verbose_shows_every_epoch_of_a_long_run():
    lines = _run(EpochConsole(io.StringIO(), verbose=True), 200)
    assert _epochs(lines) == list(range(1, 201))
    assert all(" | " in ln for ln in lines)  # the same ending


def test_the_last_epoch_of_an_early_stopped_run_is_shown_before_the_next_line():
    lines = _run(EpochConsole(io.StringIO()), 2000, stop_at=1234)
    assert lines[-1] == "early stopping"
    assert lines[-2].startswith("epoch 1234/2000")


def test_an_interrupted_run_shows_its_last_epoch_when_the_console_is_released():
    handler = EpochConsole(io.StringIO())
    logger = logging.getLogger("test_console")
    for epoch in (1, 2, 3):
        record = logger.makeRecord("test_console", logging.INFO, __file__, 1, "epoch %d/%d",
                                   (epoch, 500), None, extra=epoch_extra(
                                       {"epoch": epoch, "epoch_time_s": 1.0, "best_epoch": 1,
                                        "best_metric": 0.5}, 500, "val_loss"))
        handler.handle(record)
    assert _epochs(handler.stream.getvalue().splitlines()) == [1]
    handler.show_held()
    assert _epochs(handler.stream.getvalue().splitlines()) == [1, 3]


@pytest.mark.parametrize("verbose", [False, True])
def test_the_log_file_gets_every_epoch_line_unchanged(tmp_path, verbose):
    from core.cli import setup_logging

    logger = setup_logging("test_console_file", tmp_path / "train.log", thin_epochs=not verbose)
    try:
        for epoch in range(1, 101):
            logger.info("epoch %d/%d", epoch, 100, extra=epoch_extra(
                {"epoch": epoch, "epoch_time_s": 0.01, "best_epoch": 1, "best_metric": 0.5}, 100,
                "val_loss"))
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
    text = (tmp_path / "train.log").read_text().splitlines()
    assert [ln.split(" ", 1)[1] for ln in text] == [f"epoch {e}/100" for e in range(1, 101)]
