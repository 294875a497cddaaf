"""The text-covariate encoder: pooled unit vectors from BERT and RoBERTa models, and its disk cache."""
import time

import numpy as np
import pytest
import torch
from transformers import AutoModel

from backbones.language.text_encoder import EmbeddingCache, TextEncoder, TextEncoderConfig

TEXTS = ["flash sale 30% off", "store closed for inventory", "heatwave warning"]


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_tiny_bert_and_roberta_encode_texts_to_unit_vectors_and_empty_text_to_zeros(tiny_language_models, family,
                                                                                   tmp_path):
    encoder = TextEncoder(TextEncoderConfig(model=tiny_language_models[family]), cache_path=tmp_path / "cache.sqlite")
    vectors = encoder.encode([TEXTS[0], "", None, float("nan"), TEXTS[1], TEXTS[0], "   "])
    assert vectors.shape == (7, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1, 0, 0, 0, 1, 1, 0], atol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[5])
    assert not np.allclose(vectors[0], vectors[4])
    assert (encoder.last.texts, encoder.last.encoded, encoder.last.cached) == (2, 2, 0)


def test_mean_pooling_is_the_masked_mean_of_the_token_states_and_cls_the_first(tiny_language_models, tmp_path):
    """Checked against the model run on one text alone (no padding): batching with longer texts changes nothing."""
    directory = tiny_language_models["bert"]
    model = AutoModel.from_pretrained(directory).eval()
    mean = TextEncoder(TextEncoderConfig(model=directory), cache_path=False)
    tokens = mean.language_model.tokenizer(TEXTS[2], return_tensors="pt")
    with torch.no_grad():
        states = model(**tokens).last_hidden_state[0]                          # [T, D]
    expected = {"mean": states.mean(0), "cls": states[0]}
    long_texts = [TEXTS[2], "a much longer text " * 5]                          # padded beside a longer one
    for pooling, vector in expected.items():
        encoder = TextEncoder(TextEncoderConfig(model=directory, pooling=pooling), cache_path=False)
        np.testing.assert_allclose(encoder.encode(long_texts)[0], (vector / vector.norm()).numpy(), atol=1e-5)


def test_a_second_encode_reads_everything_from_the_cache(tiny_language_models, tmp_path):
    cache = tmp_path / "cache.sqlite"
    config = TextEncoderConfig(model=tiny_language_models["bert"])
    first = TextEncoder(config, cache_path=cache).encode(TEXTS)
    again = TextEncoder(config, cache_path=cache)                 # a new process would build a new encoder
    second = again.encode(TEXTS + [""])
    assert (again.last.texts, again.last.cached, again.last.encoded, again.last.hit_rate) == (3, 3, 0, 1.0)
    np.testing.assert_array_equal(second[:3], first)
    assert again._language_model is None                          # nothing encoded: the model was never loaded
    assert EmbeddingCache(cache).count(again.key) == 3


def test_shared_vectors_serve_another_process_without_its_model_or_cache(tiny_language_models, tmp_path):
    """What a cluster's client hands its workers: each distinct text's vector by hash, read before any cache."""
    config = TextEncoderConfig(model=tiny_language_models["bert"])
    client = TextEncoder(config, cache_path=tmp_path / "client.sqlite")
    shared = client.vectors([TEXTS[0], " " + TEXTS[1], "", None, TEXTS[0]])
    assert len(shared) == 2
    worker = TextEncoder(config, cache_path=tmp_path / "worker.sqlite")
    worker.share(shared)
    vectors = worker.encode([TEXTS[1], "", TEXTS[0]])
    np.testing.assert_array_equal(vectors[[0, 2]], client.encode([TEXTS[1], TEXTS[0]]))
    assert (worker.last.cached, worker.last.encoded) == (2, 0) and worker._language_model is None
    assert not (tmp_path / "worker.sqlite").exists()              # no cache was needed, so none was opened
    worker.encode([TEXTS[2]])                                     # a text not shared is encoded as ever
    assert worker.last.encoded == 1 and EmbeddingCache(tmp_path / "worker.sqlite").count(worker.key) == 1


def test_the_cache_is_invalidated_by_the_pooling_the_token_limit_and_a_changed_model(tiny_language_models, tmp_path):
    cache = tmp_path / "cache.sqlite"
    directory = tiny_language_models["roberta"]
    base = TextEncoder(TextEncoderConfig(model=directory), cache_path=cache)
    base.encode(TEXTS)
    for changed in (TextEncoderConfig(model=directory, pooling="cls"), TextEncoderConfig(model=directory, max_tokens=8),
                    TextEncoderConfig(model=tiny_language_models["bert"])):
        encoder = TextEncoder(changed, cache_path=cache)
        encoder.encode(TEXTS)
        assert (encoder.last.cached, encoder.last.encoded) == (0, 3), changed
    # the same directory saved again with other weights is another encoder
    saved = tmp_path / "model"
    model = AutoModel.from_pretrained(directory)
    model.save_pretrained(saved)
    base.language_model.tokenizer.save_pretrained(saved)
    before = TextEncoder(TextEncoderConfig(model=str(saved)), cache_path=cache)
    old = before.encode(TEXTS)
    time.sleep(0.01)                                                # a later modification time, whatever the clock
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5)
    model.save_pretrained(saved)
    after = TextEncoder(TextEncoderConfig(model=str(saved)), cache_path=cache)
    new = after.encode(TEXTS)
    assert after.key != before.key and (after.last.cached, after.last.encoded) == (0, 3)
    assert not np.allclose(new, old)


def test_texts_longer_than_the_token_limit_are_cut_and_counted(tiny_language_models, tmp_path):
    encoder = TextEncoder(TextEncoderConfig(model=tiny_language_models["bert"], max_tokens=6), cache_path=False)
    long_text = "the store is closed all day for the yearly inventory count"
    vectors = encoder.encode([long_text, "sale"])
    assert encoder.last.truncated == 1
    # cut to its first 6 tokens ([CLS], four words, [SEP]): the same vector as those words alone
    np.testing.assert_allclose(vectors[0], encoder.encode(["the store is closed"])[0], atol=1e-5)


def test_only_bert_and_roberta_models_encode_text(tiny_language_models):
    with pytest.raises(ValueError, match="encoded by BERT or RoBERTa models; .* is a 'gpt2' model"):
        TextEncoder(TextEncoderConfig(model=tiny_language_models["gpt2"]), cache_path=False).encode(["sale"])
    with pytest.raises(ValueError, match="pooling must be one of"):
        TextEncoderConfig(pooling="max")


def test_the_bundled_minilm_places_a_paraphrase_nearer_than_another_event(tmp_path):
    """The pretrained encoder carries meaning: what the text-covariate benchmark's unseen paraphrases rely on."""
    encoder = TextEncoder(cache_path=tmp_path / "cache.sqlite")
    sale, paraphrase, closed, heat = encoder.encode(["flash sale 30% off", "big discount on everything today",
                                                     "store closed for inventory", "heatwave warning"])
    assert sale @ paraphrase > max(sale @ closed, sale @ heat) + 0.1
    assert encoder.dim == 384
