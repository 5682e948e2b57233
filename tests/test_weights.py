"""Weights folders: round trip, and clear errors for every kind of bad folder."""

import json
import shutil

import pytest
import torch

from model.bsrnn import BSRNN
from model.config import ModelConfig
from model.errors import WeightsError
from model.weights import CONFIG_FILE, TENSOR_FILE, load_model, read_config, save_model


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = BSRNN(ModelConfig.preset("tiny"))
    folder = save_model(model, tmp_path / "w", {"name": "t", "trained": False})
    return model, folder


def test_round_trip_is_exact(saved):
    model, folder = saved
    loaded, info = load_model(folder)
    assert info["name"] == "t" and info["trained"] is False
    assert loaded.cfg == model.cfg
    for (k, a), (k2, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b)


def test_half_precision_round_trip_is_close(tmp_path):
    model = BSRNN(ModelConfig.preset("tiny"))
    loaded, _ = load_model(save_model(model, tmp_path / "h", half=True))
    for a, b in zip(model.parameters(), loaded.parameters(), strict=True):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, atol=2e-3, rtol=2e-3)


def test_truncated_tensor_file(saved):
    _, folder = saved
    data = (folder / TENSOR_FILE).read_bytes()
    (folder / TENSOR_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=f"{TENSOR_FILE}.*corrupt or truncated"):
        load_model(folder)


def test_foreign_tensor_file_without_checksum(saved, tmp_path):
    _, folder = saved
    meta = json.loads((folder / CONFIG_FILE).read_text())
    del meta["sha256"]
    (folder / CONFIG_FILE).write_text(json.dumps(meta))
    (folder / TENSOR_FILE).write_bytes(b"RIFF....WAVEfmt this is not safetensors")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_model(folder)


def test_weights_of_another_config(saved, tmp_path):
    _, folder = saved
    other = save_model(BSRNN(ModelConfig.preset("tiny", n_features=10)), tmp_path / "o")
    shutil.copy(other / TENSOR_FILE, folder / TENSOR_FILE)
    meta = json.loads((folder / CONFIG_FILE).read_text())
    meta["sha256"] = json.loads((other / CONFIG_FILE).read_text())["sha256"]
    (folder / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not match its config.*shape"):
        load_model(folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "not a stemlive weights config"),
        ('{"format": "stemlive-weights", "version": 9}', "format version 9"),
        (
            '{"format": "stemlive-weights", "version": 1, "model": {"n_fft": 1000, "hop": 300}}',
            "hop 300 must divide",
        ),
        (
            '{"format": "stemlive-weights", "version": 1, "model": {"colour": "red"}}',
            "unknown model config keys",
        ),
        (
            '{"format": "stemlive-weights", "version": 1, "model": {"mid_input": "yes"}}',
            "mid_input.*true or false",
        ),
        (
            '{"format": "stemlive-weights", "version": 1, "model": {"ratio_blend": 2}}',
            "ratio_blend 2 must be between 0 and 1",
        ),
    ],
)
def test_bad_config_files(saved, content, message):
    _, folder = saved
    (folder / CONFIG_FILE).write_text(content)
    with pytest.raises(WeightsError, match=message) as err:
        read_config(folder)
    assert CONFIG_FILE in str(err.value)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="missing"):
        load_model(tmp_path / "empty")


def test_shipped_default_loads_and_says_if_trained():
    model, info = load_model(None)
    assert isinstance(info.get("trained"), bool)
    assert model.cfg.n_fft == 2048 and model.cfg.hop == 512
