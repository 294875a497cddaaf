"""The text-covariate benchmark's panel: real series, events of known size, test wordings never seen in training."""
import importlib.util
import sys

import numpy as np
import pytest

from tests.conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("text_covariates", REPO / "benchmarks" / "text_covariates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                     # its dataclasses look their module up
    sys.path.insert(0, str(REPO / "benchmarks"))        # as when run from there: it imports its siblings
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return module


def test_the_test_part_words_events_only_in_ways_training_never_saw(bench):
    panel = bench.semi_synthetic_panel(seed=0)
    texts = panel[panel["event"] != ""]
    seen = set(texts.loc[texts["part"] < 2, "event"])
    unseen = set(texts.loc[texts["part"] == 2, "event"])
    assert seen == {text for wordings in bench.TRAIN_WORDINGS.values() for text in wordings}
    assert unseen <= {text for wordings in bench.TEST_WORDINGS.values() for text in wordings}
    assert not seen & unseen and len(unseen) >= 8
    assert panel["unique_id"].nunique() == 16 and set(texts["kind"]) == set(bench.KINDS)


def test_each_event_moves_its_series_by_its_kinds_effect_in_the_series_own_deviations(bench):
    panel = bench.semi_synthetic_panel(seed=1)
    for name, base in bench.base_series().items():
        rows = panel[panel["unique_id"] == name]
        part = rows["part"].to_numpy()
        deviation = np.std(np.diff(base.to_numpy(float)[part == 0]))
        effect = rows["kind"].map(lambda kind: bench.KINDS[kind].effect if kind else 0.0).to_numpy()
        np.testing.assert_allclose(rows["y"].to_numpy() - base.to_numpy(float), effect * deviation, atol=1e-9)


def test_the_control_keeps_where_and_how_long_each_text_is_but_not_what_it_says(bench):
    real, control = bench.semi_synthetic_panel(seed=2), bench.semi_synthetic_panel(seed=2, control=True)
    np.testing.assert_array_equal(real["y"], control["y"])
    has_text = real["event"] != ""
    np.testing.assert_array_equal(has_text, control["event"] != "")
    lengths = real.loc[has_text, "event"].str.len().to_numpy()
    np.testing.assert_array_equal(control.loc[has_text, "event"].str.len().to_numpy(), lengths)
    assert not set(control["event"]) & set(real.loc[has_text, "event"])


@pytest.mark.parametrize("part", [1, 2])
def test_a_scored_frame_ends_with_whole_windows_of_its_part_and_holds_no_later_row(bench, part):
    panel = bench.semi_synthetic_panel(seed=0)
    frame, windows = bench.scored_frame(panel, part=part)
    assert windows == panel[panel["part"] == part].groupby("unique_id").size().min() // bench.H
    for name, rows in frame.groupby("unique_id"):
        parts = rows["part"].to_numpy()
        assert (parts[-windows * bench.H:] == part).all() and (parts[:-windows * bench.H] < part).all()
        assert rows["ds"].iloc[0] == panel.loc[panel["unique_id"] == name, "ds"].iloc[0]
