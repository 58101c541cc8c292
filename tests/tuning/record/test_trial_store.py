import pytest

from tuning.record import TrialStore, is_uri, join_uri


@pytest.mark.parametrize("base, parts, joined", [
    ("s3://b/sweeps", ("x", "tune"), "s3://b/sweeps/x/tune"),
    ("s3://b/sweeps/", ("x",), "s3://b/sweeps/x"),
    # query parameters (endpoint, scheme) stay at the end, where pyarrow reads them
    ("s3://b/s?endpoint_override=h:9&scheme=http", ("x", "tune"),
     "s3://b/s/x/tune?endpoint_override=h:9&scheme=http"),
])
def test_join_uri_keeps_the_query_last(base, parts, joined):
    assert join_uri(base, *parts) == joined


def test_is_uri():
    assert is_uri("gs://b/x") and is_uri("file:///tmp/x") and not is_uri("/mnt/shared/x")


def test_local_store_lists_runs_trials_and_checkpoints(tmp_path):
    for run, trial, ckpts in (("run-0", "t0001", [0, 1]), ("run-1", "t0001", [2]),
                              ("run-1", "t0002", [])):
        d = tmp_path / run / trial
        d.mkdir(parents=True)
        (d / "result.json").write_text("{}\n")
        for c in ckpts:
            (d / f"checkpoint_{c:06d}").mkdir()
            (d / f"checkpoint_{c:06d}" / "checkpoint.pt").write_bytes(b"x")
    store = TrialStore(tmp_path)
    assert [p.rsplit("/", 1)[1] for p in store.runs()] == ["run-0", "run-1"]
    dirs = store.trial_dirs("t0001")
    assert [p.split("/")[-2] for p in dirs] == ["run-0", "run-1"]
    assert sorted(len(store.checkpoint_files(d, "checkpoint.pt")) for d in dirs) == [1, 2]
    assert store.stat(f"{dirs[0]}/result.json")[1] == 3
    assert store.stat(f"{dirs[0]}/missing.json") is None
    assert store.uri(f"{dirs[0]}/result.json") == f"{dirs[0]}/result.json"
    (tmp_path / "run-1" / "t0002" / "not-a-trial").mkdir()
    (tmp_path / "run-1" / "notes").mkdir()
    # Every trial once, across runs; other folders are not trials.
    assert store.trial_keys() == ["t0001", "t0002"]


def test_runs_are_ordered_by_number_not_by_name(tmp_path):
    # A sweep resumed ten times: run-10 is newer than run-2 (its epochs win in trials.csv).
    for k in (0, 1, 2, 10):
        (tmp_path / f"run-{k}" / "t0000").mkdir(parents=True)
    store = TrialStore(tmp_path)
    assert [p.rsplit("-", 1)[1] for p in store.runs()] == ["0", "1", "2", "10"]
    assert [p.split("/")[-2] for p in store.trial_dirs("t0000")] == \
        ["run-0", "run-1", "run-2", "run-10"]


def test_file_uri_store_lists_the_same_trials(tmp_path):
    for run, trial in (("run-0", "t0000"), ("run-1", "t0000"), ("run-1", "t0003")):
        (tmp_path / run / trial / "checkpoint_000001").mkdir(parents=True)
    store = TrialStore(f"file://{tmp_path}")
    assert store.remote and store.trial_keys() == ["t0000", "t0003"]
    assert len(store.trial_dirs("t0000")) == 2

