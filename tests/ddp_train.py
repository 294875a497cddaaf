"""Run by test_training under `torchrun --nproc_per_node 2`: each rank writes its final weights and validation loss."""
import sys

import numpy as np
from accelerate import PartialState
from accelerate.utils import set_seed
from safetensors.torch import save_file

from backbones.dlinear import DLinear, DLinearConfig
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import make_windows

t = np.arange(400)
block = ((np.sin(t / 6) + 0.1 * np.cos(t / 2.3))[:, None].astype(np.float32), np.zeros((400, 0), np.float32))
set_seed(0)
network = DLinear(DLinearConfig(lookback=32, horizon=8))
result = train(network, make_windows([block], 32, 8, [range(0, 300)]), make_windows([block], 32, 8, [range(300, 400)]),
               TrainingConfig(epochs=3, batch_size=8, learning_rate=1e-2), show_bar=False)
state = PartialState()
save_file(network.state_dict(), f"{sys.argv[1]}/rank{state.process_index}.safetensors",
          metadata={"world": str(state.num_processes), "val_loss": repr(result.best_val_loss)})
