"""Report of a sweep, finished or still running: ``python -m tuning.report runs/sweeps/<name>``.

Prints the top trials as a table and writes ``report.html`` (self-contained: figures are embedded
PNGs, no scripts, no external files) plus the PNGs themselves into ``--out`` (default: the
experiment directory's ``report/``). The figures (``tuning.report_figures``): best-so-far metric
against wall time and against trials; every trial's learning curve coloured by status, with
ASHA's rungs marked; the metric against each parameter; parameter importances (Optuna's
PED-ANOVA evaluator); parallel coordinates; with a confirmation phase (``tuning.confirm``), its
per-candidate table and the search score against the confirmed mean with 95% intervals. It reads
only what is on disk, so it also works while the sweep runs.
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from datetime import datetime
from pathlib import Path

from core.cli import EXIT_OK, fail, int_at_least
from core.files import atomic_write_text
from tuning.confirm import read_confirmation
from tuning.record import (
    REPORT_DIR,
    SPEC_FILE,
    STUDY_FILE,
    finite,
    is_sweep_dir,
    read_spec,
    space_of,
    trial_history,
    trial_rows,
)
from tuning.report_figures import confirmation_figure, score_key, search_figures
from tuning.study import load_study

__all__ = ["collect", "format_confirmation", "format_table", "main", "write_report"]


def collect(exp_dir: Path) -> dict:
    """Everything the report shows, read from the study and the trial directories."""
    exp_dir = exp_dir.resolve()
    space = space_of(read_spec(exp_dir), str(exp_dir / SPEC_FILE))
    study = load_study(exp_dir)
    rows = trial_rows(study, exp_dir, space)
    curves = {}
    for r in rows:
        results = trial_history(exp_dir, r["trial"])
        curves[r["trial"]] = [(res["epoch"], res.get(space.metric), res.get("timestamp"))
                              for res in results]
    return {"space": space, "study": study, "rows": rows, "curves": curves, "name": exp_dir.name,
            "confirmation": read_confirmation(exp_dir)}


def _confirmation_cells(conf) -> tuple[list[str], list[list[str]], str]:
    """The confirmation table (header, rows, one per candidate, best mean first) and the
    sentence that names the winner; the HTML report and the terminal print the same."""
    def num(v):
        return "-" if v is None else f"{v:.4f}"

    m, tm = conf["metric"], conf["test_metric"]
    head = ["rank", "search trial", f"search {m}", "runs", f"mean {m}", "sd", "95% interval",
            f"mean {tm}", "seeds"]
    rows = [[str(i + 1) + (" (winner)" if i == conf["winner"] else ""), c["trial"],
             num(c["search_score"]), str(c["n"]), num(c["mean"]), num(c["sd"]),
             f"[{num(c['low'])}, {num(c['high'])}]",
             num(c["test_mean"]) + ("" if c.get("test_n", c["n"]) == c["n"]
                                    else f" ({c['test_n']} of {c['n']} runs)"),
             " ".join(str(r["seed"]) for r in c["runs"])]
            for i, c in enumerate(conf["candidates"])]
    w = conf["winner"]
    said = "no confirmation run has finished yet" if w is None else (
        f"the winner is the configuration of {conf['candidates'][w]['trial']}: best mean "
        f"confirmed {m} over fresh seeds (each run's last epoch); best_config.yaml holds it")
    return head, rows, (f"The top {len(conf['candidates'])} configurations of the search, "
                        f"retrained at full length on seeds {conf['seeds']}; {said}.")


def _confirmation_html(conf) -> str:
    head, rows, said = _confirmation_cells(conf)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>"
                   for row in rows)
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f"<h2>Confirmation</h2><p>{html.escape(said)}</p>"
            f"<table><tr>{header}</tr>{body}</table>")


def format_confirmation(conf) -> str:
    """``tuning.confirm.read_confirmation``'s summary as a plain-text table under the sentence
    naming the winner (the terminal report prints it after the search's table)."""
    head, rows, said = _confirmation_cells(conf)
    return f"confirmation: {said}\n{_text_table([head, *rows])}"


def _text_table(lines: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in lines)


def _table(data, limit: int = 10) -> list[dict]:
    space = data["space"]
    return sorted(data["rows"], key=score_key(space), reverse=True)[:limit]


def _columns(space) -> tuple[list[str], list[str]]:
    """Header of the top-trials table, and the searched parameter names it shows."""
    params = [p.name for p in space.params if p.type != "fixed"]
    return ["trial", "status", "epochs", f"best {space.metric}", "best epoch"] + params, params


def _cells(r: dict, space, params: list[str]) -> list[str]:
    v = r[f"best_{space.metric}"]
    return [r["trial"], r["status"], str(r["epochs"]), f"{v:.4f}" if finite(v) else "-",
            str(r["best_epoch"])] + [_fmt(r.get(f"param:{p}", "")) for p in params]


def format_table(data, limit: int = 10) -> str:
    """The top ``limit`` trials of ``collect``'s data as a plain-text table (best first)."""
    head, params = _columns(data["space"])
    return _text_table([head] + [_cells(r, data["space"], params) for r in _table(data, limit)])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def write_report(exp_dir: Path, out: Path) -> Path:
    """Writes the figures (PNG) and ``report.html`` (figures embedded, no scripts) into ``out``;
    returns the HTML file's path. Needs matplotlib; reads only the disk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp_dir = exp_dir.resolve()
    data = collect(exp_dir)
    out.mkdir(parents=True, exist_ok=True)
    space = data["space"]
    figures, no_importances = search_figures(plt, data)
    blocks = []
    for stem, title, fig in figures:
        path = out / f"{stem}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        encoded = base64.b64encode(path.read_bytes()).decode()
        blocks.append(f"<h2>{html.escape(title)}</h2>\n"
                      f'<img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">')
    if no_importances is not None:
        blocks.append(f"<h2>Parameter importances</h2><p>{html.escape(no_importances)}</p>")
    conf = data["confirmation"]
    if conf is not None:
        path = out / "confirmation.png"
        fig = confirmation_figure(plt, conf)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        encoded = base64.b64encode(path.read_bytes()).decode()
        blocks.insert(0, _confirmation_html(conf) + '\n<img alt="Search score against confirmed '
                      f'mean" src="data:image/png;base64,{encoded}">')
    counts: dict[str, int] = {}
    for r in data["rows"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    head, params = _columns(space)
    cells = []
    for r in _table(data):
        target = r["checkpoint"] if "://" in r["checkpoint"] else \
            Path(r["checkpoint"]).as_uri() if r["checkpoint"] else ""
        link = f'<a href="{html.escape(target)}">checkpoint</a>' if target else "-"
        cells.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>"
                                      for c in _cells(r, space, params)) +
                     f"<td>{link}</td></tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head + ["checkpoint"])
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sweep {html.escape(data['name'])}</title>
<link rel="icon" href="data:,">
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Sweep {html.escape(data['name'])}</h1>
<p>{len(data['rows'])} of {space.num_samples} trials ({html.escape(summary)}); metric
{html.escape(space.metric)} ({space.mode}); {space.max_epochs} epochs per full trial; ASHA grace
{space.grace_period}, reduction factor {space.reduction_factor}; sampler {space.sampler}.
Generated {datetime.now().isoformat(timespec='seconds')} from {html.escape(str(exp_dir))}.</p>
<h2>Top trials</h2>
<div style="overflow-x: auto"><table><tr>{header}</tr>
{''.join(cells)}
</table></div>
{''.join(blocks)}
</body></html>
"""
    report = out / "report.html"
    atomic_write_text(report, page)
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m tuning.report``; returns the exit code (0, or 2 with one error line)."""
    p = argparse.ArgumentParser(prog="python -m tuning.report", description=__doc__.split("\n")[0])
    p.add_argument("sweep", type=Path, help="experiment directory of the sweep")
    p.add_argument("--out", type=Path, help="output folder (default: SWEEP/report)")
    p.add_argument("--top", type=int_at_least(1), default=10, help="rows of the terminal table")
    args = p.parse_args(argv)
    if not is_sweep_dir(args.sweep) or not (args.sweep / STUDY_FILE).is_file():
        return fail(f"{args.sweep}: not a sweep directory (no {SPEC_FILE} and {STUDY_FILE})")
    data = collect(args.sweep)
    print(format_table(data, args.top))
    if data["confirmation"]:
        print("\n" + format_confirmation(data["confirmation"]))
    out = args.out or args.sweep / REPORT_DIR
    try:
        report = write_report(args.sweep, out)
    except OSError as exc:  # a read-only or full disk, a file in the way
        return fail(f"{'--out' if args.out else 'the report folder'}: cannot write {out}: "
                    f"{exc.strerror}")
    print(f"\nreport: {report}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
