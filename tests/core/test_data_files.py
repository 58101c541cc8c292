"""Long-format and NPZ files (core/data/files.py): faults from the field (issue 16, section 4)."""

import copy
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

import core.train as train
from core.config import DataConfig, TaskConfig
from core.data import DataError, load_data


def _rows(n_seq=20, steps=4):
    return [{"sequence_id": f"s{s:02d}", "time": t, "f1": float(100 * s + t), "label": s % 2}
            for s in range(n_seq) for t in range(steps)]


def _cfg(path, **kw):
    return DataConfig(source="csv", path=str(path), normalize=False, **kw)


def _data_error(tmp_path, df, **kw) -> DataError:
    """The DataError that loading ``df`` written as a long CSV raises (``kw``: DataConfig's)."""
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError) as info:
        load_data(_cfg(tmp_path / "d.csv", **kw), TaskConfig())
    return info.value


def test_empty_sequence_id_names_id_column_and_rows(tmp_path):
    df = pd.DataFrame(_rows())
    df.loc[[4, 9], "sequence_id"] = np.nan
    error = _data_error(tmp_path, df)
    # Data rows 4 and 9 are lines 6 and 11 of the file (the header is row 1).
    assert error.key == "data.id_column"
    assert "rows 6, 11, counting the header as row 1" in str(error)


def test_date_strings_in_time_column_are_ordered_as_dates(tmp_path):
    rows = [{"sequence_id": s, "time": f"1/{day}/2024", "f1": float(day), "label": s % 2}
            for s in range(10) for day in range(1, 13)]
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_csv(tmp_path / "d.csv", index=False)
    d = load_data(_cfg(tmp_path / "d.csv", val_fraction=0.2, test_fraction=0.2), TaskConfig())
    # f1 is the day of the month: in date order it reads 1..12, not 1, 10, 11, 12, 2, ...
    assert torch.equal(d.train.x[0, :, 0], torch.arange(1, 13, dtype=torch.float32))


@pytest.mark.parametrize("bad,words", [("soon", "'soon'"), (None, "is empty on")])
def test_time_column_neither_numbers_nor_dates_is_an_error(tmp_path, bad, words):
    df = pd.DataFrame(_rows())
    df["time"] = df["time"].map(lambda t: f"2024-01-0{t + 1}")
    df.loc[5, "time"] = bad
    error = _data_error(tmp_path, df)
    assert error.key == "data.time_column" and words in str(error)
    assert "row 7" in str(error)


def test_time_column_with_every_fifth_row_bad_lists_only_those_rows(tmp_path):
    """The fault from the field: numbers with a word on every 5th row were reported as "neither
    numbers nor dates" on rows 2-6 (the numbers failed as dates), inside nested brackets."""
    df = pd.DataFrame(_rows())
    df["time"] = df["time"].astype(object)
    df.loc[::5, "time"] = "later"
    error = _data_error(tmp_path, df)
    message = str(error)
    assert error.key == "data.time_column"
    # Data rows 0, 5, 10, ... are lines 2, 7, 12, ... of the file.
    assert "holds numbers but 'later' on rows 2, 7, 12, 17, 22 and 11 more, counting the " \
           "header as row 1" in message
    assert message.count("(") <= 1  # no brackets inside brackets


def test_infinite_time_is_an_error_naming_the_rows(tmp_path):
    df = pd.DataFrame(_rows())
    df["time"] = df["time"].astype(float)
    df.loc[6, "time"] = np.inf
    error = _data_error(tmp_path, df)
    assert error.key == "data.time_column"
    assert "is infinite on row 8, counting the header as row 1" in str(error)


def test_split_column_not_constant_names_the_sequence_id_and_rows(tmp_path):
    df = pd.DataFrame(_rows())
    df["split"] = "train"
    df.loc[6, "split"] = "test"  # the third row of sequence s01
    error = _data_error(tmp_path, df, split_column="split")
    assert error.key == "data.split_column"
    assert "within the sequence of sequence_id 's01': 'train' on its first row, other values " \
           "on row 8, counting the header as row 1" in str(error)


def test_duplicate_time_within_a_sequence_is_an_error(tmp_path):
    df = pd.DataFrame(_rows())
    df.loc[2, "time"] = 1  # sequence s00 has two rows at time 1
    error = _data_error(tmp_path, df)
    assert error.key == "data.time_column" and "'s00'" in str(error)
    assert "rows 3, 4" in str(error)


def test_mostly_numeric_text_column_is_an_error_not_a_vanished_feature(tmp_path):
    df = pd.DataFrame(_rows())
    df["f2"] = df["f1"].astype(object)
    df.loc[3, "f2"] = "?"
    df["site"] = "lab"  # text columns that are not numbers are ignored, and said so
    error = _data_error(tmp_path, df)
    assert error.key == "data.feature_columns" and "'?' (row 5" in str(error)
    df.drop(columns="f2").to_csv(tmp_path / "d.csv", index=False)
    d = load_data(_cfg(tmp_path / "d.csv"), TaskConfig())
    assert d.feature_names == ["f1"] and "ignored non-numeric columns: site" in d.describe()


def test_test_fraction_zero_with_variable_lengths_has_no_test_split(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 9, size=40)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((40, 8, 2)), y=np.arange(40) % 2,
             lengths=lengths)
    d = load_data(DataConfig(source="npz", path=str(tmp_path / "d.npz"), test_fraction=0.0),
                  TaskConfig())
    assert len(d.test) == 0 and len(d.train) + len(d.val) == 40
    assert d.test.x.shape[1:] == d.train.x.shape[1:]
    assert "(no test split)" in d.describe()


def test_data_error_survives_copy_and_pickle():
    err = DataError("data.label_column", "column 'label' holds 0.5", "data/x.csv")
    for other in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert type(other) is DataError and str(other) == str(err)
        assert (other.key, other.detail, other.path) == ("data.label_column",
                                                         "column 'label' holds 0.5", "data/x.csv")
    assert str(err) == "data.label_column: data/x.csv: column 'label' holds 0.5"


@pytest.mark.parametrize("label,task,key", [
    (lambda s: s / 7, "multiclass", "data.label_column"),
    (lambda s: s % 3, "binary", "data.label_column"),
])
def test_cli_names_config_key_and_data_file_exits_2_writes_nothing(tmp_path, capsys, label, task,
                                                                   key):
    rows = [{"sequence_id": s, "time": t, "f1": float(t), "label": label(s)}
            for s in range(30) for t in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "x.csv", index=False)
    config = tmp_path / "x.yaml"
    config.write_text(f"task: {{type: {task}}}\n"
                      f"data: {{source: csv, path: {tmp_path / 'x.csv'}}}\n")
    out = tmp_path / "run"
    assert train.main(["--config", str(config), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: {key}: {tmp_path / 'x.csv'}: " in err and "Traceback" not in err
    assert not out.exists()


def test_cli_trains_without_a_test_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((40, 8, 2)), y=np.arange(40) % 2,
             lengths=rng.integers(2, 9, size=40))
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{source: npz, path: {tmp_path / 'd.npz'}, test_fraction: 0}}\n"
                      "model: {hidden_size: 4}\ntraining: {epochs: 1, batch_size: 8}\n"
                      "experiment: {device: cpu}\n")
    out = tmp_path / "run"
    assert train.main(["--config", str(config), "--output-dir", str(out), "--quiet"]) == 0, \
        capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and not summary["test"]


@pytest.mark.parametrize("as_text", [
    lambda day: str(day),  # numbers stored as text: ordered as numbers, not 1, 10, 11, 12, 2
    lambda day: f"2024-01-{day:02d}" if day % 2 else f"1/{day}/2024",  # mixed date formats
])
def test_time_as_text_is_ordered_by_value(tmp_path, as_text):
    rows = [{"sequence_id": f"s{s}", "time": as_text(day), "f1": float(day), "label": s % 2}
            for s in range(10) for day in range(12, 0, -1)]
    df = pd.DataFrame(rows)
    df["time"] = df["time"].astype("string")
    df.to_parquet(tmp_path / "d.parquet")
    d = load_data(DataConfig(source="parquet", path=str(tmp_path / "d.parquet"), normalize=False,
                             val_fraction=0.2, test_fraction=0.2), TaskConfig())
    assert torch.equal(d.train.x[0, :, 0], torch.arange(1, 13, dtype=torch.float32))


def test_lengths_outside_the_steps_name_the_entries(tmp_path):
    lengths = np.full(10, 4)
    lengths[[3, 7]] = [0, 9]
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 4, 1)), y=np.arange(10) % 2, lengths=lengths)
    with pytest.raises(DataError) as info:
        load_data(DataConfig(source="npz", path=str(tmp_path / "d.npz")), TaskConfig())
    assert "must lie in [1, T=4]; 2 entries do not: [3] = 0, [7] = 9" in str(info.value)
