"""benchmarks/trial_start.py: the trial-start breakdown of the sweep's GPU benchmark, from the
timings trials report (runs on CPU)."""

from benchmarks.trial_start import START_HEADER, start_row


def _first_row(suggested, worker, entered, fit, setup, launch, worker_trials):
    return [{"suggested_at": suggested, "worker_started_at": worker, "entered_at": entered,
             "worker_imported_at": worker + 2.0,
             "fit_entered_at": fit, "setup_s": setup, "launch_to_first_step_s": launch,
             "worker_trials": worker_trials}]


def test_start_row_splits_first_trials_on_a_worker_from_later_ones():
    trials = [_first_row(100.0, 100.5, 104.5, 105.0, 2.0, 7.0, 1),   # new process for it
              _first_row(100.0, 90.0, 101.5, 102.0, 1.0, 3.0, 1),    # idle preloaded worker
              _first_row(200.0, 100.5, 200.02, 200.03, 0.02, 0.05, 2),  # reused worker
              _first_row(300.0, 99.5, 300.1, 300.2, 0.1, 0.4, 3)]    # reused worker
    cells = [c.strip() for c in start_row("x", trials).strip("|").split("|")]
    # trials; later: median, max, to entry; first trials (idle); first: median, max, worker
    # imported, to entry; config; setup
    assert cells[1:] == ["4", "0.23", "0.40", "0.06", "2 (1)", "5.00", "7.00", "-2.75", "3.00",
                         "0.50", "1.50"]
    # one cell per column of the table's header
    assert len(cells) == START_HEADER[-2].count("|") - 1
