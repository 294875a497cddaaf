"""Saved model files are trusted only as far as they check out: one digest over both files, a schema
for every part of the config, language models from local safetensors only, no paths taken from a
file, and checkpoints that resume only the run they belong to."""
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

import forecasting as fc
from forecasting.api import persistence
from tests.conftest import hourly_series

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def local_model(tmp_path_factory) -> Path:
    """naive, seasonal_naive (conformal intervals) and ets (a fitted form) on two hourly series."""
    path = tmp_path_factory.mktemp("local") / "model"
    fc.Forecaster(["naive", "seasonal_naive", "ets"], h=6, level=[80]).fit(hourly_series()).save(path)
    return path


@pytest.fixture(scope="module")
def network_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("network") / "model"
    fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=2)], h=6).fit(hourly_series()).save(path)
    return path


@pytest.fixture(scope="module")
def timellm_model(tmp_path_factory, tiny_language_models) -> Path:
    """The ablation without the language model still reads its word embeddings from the language model's directory."""
    path = tmp_path_factory.mktemp("timellm") / "model"
    network = {"language_model": tiny_language_models["gpt2"], "llm_layers": 1, "n_prototypes": 16, "d_ff": 16}
    model = fc.model("timellm_no_lm", epochs=1, steps_per_epoch=2, network=network)
    fc.Forecaster([model], h=6).fit(hourly_series()).save(path)
    return path


def edited(saved: Path, tmp_path: Path, edit: Callable[[dict], None], reseal: bool = True) -> Path:
    """A copy of the model in `saved` with its config edited; `reseal` records the digest of the edited
    files, as someone who knows the format would, so that the schema is what refuses the edit."""
    copy = tmp_path / "edited"
    shutil.copytree(saved, copy)
    config = json.loads((copy / persistence.CONFIG).read_text())
    edit(config)
    (copy / persistence.CONFIG).write_text(json.dumps(config))
    if reseal:
        resealed(copy)
    return copy


def resealed(path: Path) -> None:
    config = json.loads((path / persistence.CONFIG).read_text())
    config[persistence.DIGEST] = persistence.content_digest(config, path / persistence.WEIGHTS)
    (path / persistence.CONFIG).write_text(json.dumps(config))


def refused(path: Path, *expected: str) -> str:
    """The load error's message, which names the config file, each expected text, and the fix."""
    with pytest.raises(fc.ModelFileError) as error:
        fc.Forecaster.load(path)
    message = str(error.value)
    assert message.startswith(str(path / persistence.CONFIG)), message
    for text in expected:
        assert text in message, message
    assert message.endswith("Fit the model again and save it with this version of Almanac."), message
    return message


def setter(*keys, value) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        *parents, last = keys
        target = config
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


def test_a_resealed_unedited_model_loads_and_forecasts_as_before(local_model, network_model, tmp_path):
    for path in (local_model, network_model):
        again = edited(path, tmp_path / path.parent.name, lambda config: None)
        pd.testing.assert_frame_equal(fc.Forecaster.load(again).predict(), fc.Forecaster.load(path).predict())


# ---- one digest over both files -------------------------------------------------------------------

@pytest.mark.parametrize("edit", [
    setter("series", "lengths", value=[239, 241]),           # an observation moves to the other series
    setter("fits", 2, 0, "scale", value=float("nan")),      # NaN forecasts
    setter("series", "ids", value=["a", "renamed"]),
    setter("level", value=[90]),
], ids=["lengths", "scale", "ids", "level"])
def test_an_edited_config_is_refused(local_model, tmp_path, edit):
    path = edited(local_model, tmp_path, edit, reseal=False)
    refused(path, f"{path / persistence.CONFIG} or {path / persistence.WEIGHTS} changed since the model was saved")


def test_edited_weights_are_refused(local_model, tmp_path):
    path = edited(local_model, tmp_path, lambda config: None)
    weights = path / persistence.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    refused(path, "changed since the model was saved: their SHA-256 differs")


def test_a_config_without_its_digest_is_refused(local_model, tmp_path):
    path = edited(local_model, tmp_path, lambda config: config.pop(persistence.DIGEST), reseal=False)
    refused(path, "sha256 is missing")


def test_deeply_nested_json_is_refused(tmp_path):
    nested = "[" * 100_000 + "]" * 100_000
    (tmp_path / persistence.CONFIG).write_text('{"format": "almanac.forecaster", "x": ' + nested + "}")
    refused(tmp_path, "nests its values too deeply")


# ---- the schema: types, ranges, no unknown fields ------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (setter("series", "lengths", value=[-1, 481]), "series.lengths[0]: Input should be greater than 0 (found -1)"),
    (setter("fits", 2, 0, "scale", value=float("nan")), "fits[2][0].scale: Input should be a finite number"),
    (setter("series", "ids", value=["a", "a"]), "series: Value error, ids repeat a series"),
    (setter("series", "last_ds", 0, value="NaT"), "series.last_ds[0]: Value error, 'NaT' is not a timestamp"),
    (setter("h", value=10**12), "h: Input should be less than or equal to 100000 (found 1000000000000)"),
    (setter("h", value="6"), "h: Input should be a valid integer (found '6')"),
    (setter("models", 1, "config", "season_length", value="/etc/passwd"),
     "models[1].config.season_length: Input should be a valid integer (found '/etc/passwd')"),
    (setter("models", 1, "config", "season_length", value=0),
     "models[1].config.season_length: Input should be greater than or equal to 1"),
    (setter("freq", value="/etc/passwd"), "freq: Value error, '/etc/passwd' is not a pandas frequency alias"),
    (setter("inferred_freq", value="fortnightly"), "inferred_freq: Value error, 'fortnightly' is not a pandas"),
    (setter("level", value=[80, 100]), "level[1]: Input should be less than 100"),
    (setter("fill", value="guess"), "fill: Input should be 'interpolate', 'ffill', 'zero' or 'error'"),
    (setter("nonnegative_used", value="yes"), "nonnegative_used: Input should be a valid boolean"),
    (setter("surprise", value=1), "surprise: Extra inputs are not permitted"),
    (lambda config: config.pop("duplicates"), "duplicates: missing"),
    (setter("fits", value=[]), "fits has 0 entries for 3 models"),
    (setter("fits", 2, value=[{"form": "ANA", "scale": 1.0}]), "fits[2] has 1 fits, but ets has 2 (one per series)"),
    (setter("fits", 2, 0, "form", value="XYZ"), "fits[2][0].form: String should match pattern"),
    (setter("fits", 2, 0, "params", value=[0.5]), "fits[2][0].params: Extra inputs are not permitted"),
    (setter("models", 0, "name", value="prophet"), "models[0]: unknown model 'prophet'"),
])
def test_what_a_save_never_writes_is_refused_by_field(local_model, tmp_path, edit, expected):
    refused(edited(local_model, tmp_path, edit), expected)


def test_a_fit_without_its_arrays_is_refused(local_model, tmp_path):
    path = edited(local_model, tmp_path, lambda config: None, reseal=False)
    weights = path / persistence.WEIGHTS
    save_file({key: value for key, value in load_file(weights).items() if key != "fit/2/1/params"}, weights)
    resealed(path)
    refused(path, "fits[2][1]: the fit lacks its arrays params")


@pytest.mark.parametrize("edit, expected", [
    (setter("fits", 0, 0, "network", "horizon", value=12),
     "fits[0][0].network.horizon: is 12, but the forecaster's h is 6"),
    (lambda config: (setter("h", value=12)(config), setter("fits", 0, 0, "network", "horizon", value=12)(config)),
     "fits[0][0].network: the saved dlinear network cannot be rebuilt from it: Error(s) in loading state_dict"),
    (setter("fits", 0, 0, "network", "moving_average", value="/tmp"),
     "fits[0][0].network.moving_average: Input should be a valid integer"),
    (setter("fits", 0, 0, "network", "moving_average", value=0),
     "fits[0][0].network: Value error, moving_average must be at least 1"),
    (setter("fits", 0, 0, "series", value=["b", "a"]), "fits[0][0].series: are ['b', 'a'], but the saved history's"),
    (setter("fits", 0, 0, "best_epoch", value=-1), "fits[0][0].best_epoch: Input should be greater"),
    (lambda config: config["fits"][0][0].pop("lookback"), "fits[0][0].lookback: missing"),
    (setter("models", 0, "config", "learning_rate", value=float("inf")),
     "models[0].config.learning_rate: Input should be a finite number"),
    (setter("models", 0, "config", "loss", value="huber"),
     "models[0].config: Value error, dlinear: loss must be one of"),
    (setter("models", 0, "name", value="patchtst"), "models[0].config.name: is 'dlinear', but the model is 'patchtst'"),
], ids=["horizon", "h-and-horizon", "string-setting", "setting-range", "series", "floor", "no-floor", "inf", "loss",
        "name"])
def test_a_network_that_does_not_fit_its_file_is_refused_by_field(network_model, tmp_path, edit, expected):
    refused(edited(network_model, tmp_path, edit), expected)


# ---- language models: local directories and safetensors only --------------------------------------

def test_a_language_model_named_by_hub_name_is_refused_without_reaching_the_network(timellm_model, tmp_path,
                                                                                       monkeypatch):
    from backbones.language import loader

    fetched = []
    monkeypatch.setattr(loader, "_load", lambda *args: fetched.append(args))
    path = edited(timellm_model, tmp_path, setter("fits", 0, 0, "network", "language_model", value="gpt2"))
    refused(path, "fits[0][0].network: the saved timellm_no_lm network cannot be rebuilt from it: the language model "
                  "'gpt2' is not a local directory", "hf download gpt2")
    assert fetched == []


class _MakesADirectory:
    """Unpickling this creates a directory: proof that a file was unpickled."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_a_language_model_with_pickled_weights_is_refused_unread(timellm_model, tiny_language_models, tmp_path):
    pickled = tmp_path / "pickled-gpt2"
    shutil.copytree(tiny_language_models["gpt2"], pickled)
    (pickled / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps(_MakesADirectory(marker)))
    path = edited(timellm_model, tmp_path, setter("fits", 0, 0, "network", "language_model", value=str(pickled)))
    refused(path, "fits[0][0].network:", "holds no safetensors weights")
    assert not marker.exists()


# ---- paths in a file are never used ---------------------------------------------------------------

def test_a_loaded_and_refitted_forecaster_writes_nothing_outside_the_working_folder(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    model = fc.model("dlinear", epochs=1, steps_per_epoch=2, checkpoint_dir="checkpoints", resume=True)
    fc.Forecaster([model], h=6).fit(hourly_series()).save("model")
    saved = json.loads(Path("model", persistence.CONFIG).read_text())["models"][0]["config"]
    assert "checkpoint_dir" not in saved and "resume" not in saved
    escaping = edited(Path("model"), work, setter("models", 0, "config", "checkpoint_dir", value="../../../escaped"))
    refused(escaping.resolve(), "models[0].config.checkpoint_dir: a model file never sets this")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    loaded = fc.Forecaster.load("model")
    assert loaded.models[0].checkpoint_dir is None and loaded.models[0].resume is False
    loaded.fit(hourly_series())
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


# ---- checkpoints resume only the same run ---------------------------------------------------------

@pytest.mark.parametrize("changed", [{"learning_rate": 1e-2}, {"seed": 1}, {"epochs": 2}, {"loss": "mse"},
                                     {"network": {"moving_average": 5}}], ids=lambda changed: next(iter(changed)))
def test_resuming_with_changed_settings_trains_anew(tmp_path, changed):
    settings = dict(epochs=1, steps_per_epoch=2, checkpoint_dir=str(tmp_path), resume=True)
    first = fc.Forecaster([fc.model("dlinear", **settings)], h=6).fit(hourly_series())
    epochs = []
    again = fc.Forecaster([fc.model("dlinear", **{**settings, **changed})], h=6,
                          progress=lambda stage, done, total: epochs.append(done)).fit(hourly_series())
    assert epochs and len(list(tmp_path.iterdir())) == 2          # trained, in a folder of its own
    assert not np.array_equal(again.predict()["dlinear"], first.predict()["dlinear"])
