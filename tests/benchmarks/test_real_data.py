"""The .ts reader and the converter: the committed NPZ files come from the committed raw files."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks.real_data import DATASETS, convert, read_ts, to_arrays

DATA = Path(__file__).resolve().parents[1] / "data"
RAW = DATA / "raw"


def _npz(name):
    with np.load(DATA / DATASETS[name].npz) as a:
        return {k: a[k] for k in a.files}


def test_committed_regression_npz_is_reproduced_from_the_raw_files():
    # Covid3Month's raw train and test files are committed whole: the conversion is exact
    got, want = convert(RAW, "Covid3Month"), _npz("Covid3Month")
    assert sorted(got) == sorted(want) == ["X", "split", "y"]
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    assert got["X"].dtype == np.float32 and got["y"].dtype == np.float64


def test_committed_binary_npz_train_part_matches_the_raw_train_file():
    ts, want = read_ts(RAW / "ItalyPowerDemand" / "ItalyPowerDemand_TRAIN.ts"), \
        _npz("ItalyPowerDemand")
    train = want["split"] == "train"
    # the official split: 67 train cases first, then the 1029 test cases
    assert train.sum() == 67 and (want["split"] == "test").sum() == 1029 and train[:67].all()
    np.testing.assert_array_equal(want["X"][train], np.stack(ts.series).astype(np.float32))
    np.testing.assert_array_equal(want["y"][train], ts.labels)
    assert sorted(set(want["y"])) == ["1", "2"]


def test_variable_length_multivariate_cases_are_padded_with_their_lengths():
    ts = read_ts(RAW / "JapaneseVowels" / "JapaneseVowels_TRAIN_first20.ts")
    want = _npz("JapaneseVowels")
    lengths = [len(s) for s in ts.series]
    # the excerpt is the first 20 train cases: same values, lengths and labels as the NPZ
    assert len(ts.series) == 20 and ts.series[0].shape[1] == 12 and len(set(lengths)) > 1
    np.testing.assert_array_equal(want["lengths"][:20], lengths)
    np.testing.assert_array_equal(want["y"][:20], ts.labels)
    for i, s in enumerate(ts.series):
        np.testing.assert_array_equal(want["X"][i, :len(s)], s.astype(np.float32))
        assert not want["X"][i, len(s):].any()  # zero padding after the last valid step
    assert want["X"].shape == (640, 29, 12) and (want["split"] == "train").sum() == 270


def test_equal_length_sets_have_no_lengths_array():
    ts = read_ts(RAW / "ItalyPowerDemand" / "ItalyPowerDemand_TRAIN.ts")
    assert "lengths" not in to_arrays(ts, ts, "binary")


def _write(tmp_path, body, header="@problemName t\n@classLabel true a b\n@data\n"):
    path = tmp_path / "x.ts"
    path.write_text("# a comment\n" + header + body)
    return path


def test_reader_parses_dimensions_values_and_labels(tmp_path):
    ts = read_ts(_write(tmp_path, "1,2,3:4,5,6:a\n\n7,8:9,10:b\n"))
    assert ts.labels.tolist() == ["a", "b"]
    np.testing.assert_array_equal(ts.series[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(ts.series[1], [[7, 9], [8, 10]])
    assert ts.header["@problemname"] == "t"


@pytest.mark.parametrize("body, header, message", [
    ("1,?,3:a\n", None, "missing values"),
    ("1,2,3:4,5:a\n", None, "differ in length"),
    ("1,2:a\n1,2:3,4:b\n", None, "2 dimensions"),
    ("1,2:a\n", "@timeStamps true\n@classLabel true a\n@data\n", "timestamped"),
    ("1,2:a\n", "@classLabel false\n@data\n", "no class label or target"),
    ("", None, "no @data section with cases"),
])
def test_reader_refuses_what_it_does_not_support(tmp_path, body, header, message):
    path = _write(tmp_path, body, *([header] if header else []))
    with pytest.raises(ValueError, match=message):
        read_ts(path)


REAL = Path(__file__).resolve().parents[2] / "benchmarks" / "real"


@pytest.mark.parametrize("name, sizes", [("italy_power_demand", (51, 16, 1029)),
                                         ("japanese_vowels", (216, 54, 370)),
                                         ("covid3month", (112, 28, 61))])
def test_shipped_real_configs_load_the_official_split(name, sizes, monkeypatch):
    from core.config import load_config
    from core.data import load_data
    from tuning.space import load_space

    monkeypatch.chdir(REAL.parents[1])  # data.path is relative to the repository root
    space = load_space(REAL / f"{name}_space.yaml")
    cfg = load_config(space.base_config)
    data = load_data(cfg.data, cfg.task)
    # the archive's test split untouched; validation carved from its train split only
    assert (len(data.train), len(data.val), len(data.test)) == sizes
    assert space.metric == cfg.training.checkpoint_metric

