"""Model settings from text (`--set MODEL.FIELD=VALUE`): typed, checked, and clear when wrong."""
import pytest

from forecasting.api.settings import configured_models


def test_values_take_the_type_of_the_field_they_set():
    dlinear, ets = configured_models(["dlinear", "ets"], [
        "dlinear.epochs=2", "dlinear.learning_rate=3e-4", "dlinear.lookback=null", "dlinear.optimizer=adamw8bit",
        "dlinear.network.moving_average=5", "dlinear.network.individual=true", "ets.season_length=12"])
    assert (dlinear.epochs, dlinear.learning_rate, dlinear.lookback, dlinear.optimizer) == (2, 3e-4, None, "adamw8bit")
    assert dlinear.network == {"moving_average": 5, "individual": True}
    assert ets.season_length == 12
    informer, = configured_models(["informer"], ["informer.network.attention=full", "informer.description=12"])
    assert informer.network == {"attention": "full"} and informer.description == "12"   # text stays text


@pytest.mark.parametrize("setting, message", [
    ("dlinear.epochs", "write MODEL.FIELD=VALUE"),
    ("ets.season_length=3", "'ets' is not among the chosen models"),
    ("dlinear.epochs=2.5", "epochs takes int, not '2.5'"),
    ("dlinear.epoch=2", "unknown setting 'epoch'; it takes batch_size, checkpoint_dir"),
    ("dlinear.network.individual=maybe", "individual takes bool, not 'maybe'"),
    ("dlinear.network.horizon=3", "unknown setting 'horizon'"),          # the product sets the shape
    ("dlinear.optimizer=sgd", "optimizer must be one of"),                 # the model's own validation
])
def test_wrong_settings_say_what_the_field_takes(setting, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        configured_models(["dlinear"], [setting])


def test_a_local_model_has_no_network_settings():
    with pytest.raises(ValueError, match="'ets' is not a network, so it has no network settings"):
        configured_models(["ets"], ["ets.network.d_model=3"])
