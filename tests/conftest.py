import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

if not torch.cuda.is_available():
    # Triton runs only interpreted without a GPU, and it reads this when first imported, which
    # transformers (imported below) may already do
    os.environ.setdefault("TRITON_INTERPRET", "1")
# text embeddings are cached in the run's own folder, never in the user's
os.environ.setdefault("ALMANAC_CACHE_DIR", tempfile.mkdtemp(prefix="almanac-cache-"))

from transformers import (AutoTokenizer, BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, LlamaModel,
                          RobertaConfig, RobertaModel, T5Config, T5Model)

from backbones.language import default_language_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def air_passengers() -> pd.DataFrame:
    frame = pd.read_csv(REPO / "data" / "AirPassengers.csv", parse_dates=["ds"])
    return frame.assign(unique_id="air")[["unique_id", "ds", "y"]]


def hourly_series() -> pd.DataFrame:
    """Two hourly series with a daily cycle and different levels, 240 hours each."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=240, freq="h")
    cycle = np.sin(2 * np.pi * np.arange(240) / 24)
    return pd.concat([
        pd.DataFrame({"unique_id": "a", "ds": ds, "y": 10 + 3 * cycle + rng.normal(0, 0.3, 240)}),
        pd.DataFrame({"unique_id": "b", "ds": ds, "y": 500 + 40 * cycle + rng.normal(0, 5, 240)}),
    ], ignore_index=True)


@pytest.fixture
def two_series() -> pd.DataFrame:
    return hourly_series()


@pytest.fixture
def one_thread():
    """Tiny networks: a second intra-op thread only adds synchronisation, which stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- language models: tiny random configs of every family, saved to disk -------------------------
TINY_WIDTH = 64  # 4-bit (NF4) weights need rows of at least 64 on the CPU
TINY = {  # family name -> (model class, config) with two layers each
    "gpt2": (GPT2Model, lambda v: GPT2Config(vocab_size=v, n_embd=TINY_WIDTH, n_layer=2, n_head=2, n_positions=256)),
    "t5": (T5Model, lambda v: T5Config(vocab_size=v, d_model=TINY_WIDTH, d_ff=128, d_kv=32, num_layers=2, num_heads=2)),
    "bert": (BertModel, lambda v: BertConfig(vocab_size=v, hidden_size=TINY_WIDTH, num_hidden_layers=2,
                                             num_attention_heads=2, intermediate_size=128)),
    "roberta": (RobertaModel, lambda v: RobertaConfig(vocab_size=v, hidden_size=TINY_WIDTH, num_hidden_layers=2,
                                                      num_attention_heads=2, intermediate_size=128,
                                                      max_position_embeddings=258)),
    "llama": (LlamaModel, lambda v: LlamaConfig(vocab_size=v, hidden_size=TINY_WIDTH, intermediate_size=128,
                                                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)),
}


@pytest.fixture(scope="session")
def tiny_language_models(tmp_path_factory) -> dict[str, str]:
    """Directories of tiny randomly initialised models of every family, each with the MiniLM's tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(default_language_model())
    root = tmp_path_factory.mktemp("language-models")
    paths = {}
    for name, (model_class, config) in TINY.items():
        torch.manual_seed(0)
        model_class(config(tokenizer.vocab_size)).save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths[name] = str(root / name)
    return paths


