"""What a model is trained from and saved to: checkpoints that resume only the run they belong to."""
import numpy as np
import pytest

import forecasting as fc
from tests.conftest import hourly_series

pytestmark = pytest.mark.usefixtures("one_thread")


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
