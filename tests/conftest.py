"""Shared test set-up: offscreen Qt, one torch thread, small helpers."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """An untrained tiny-preset weights folder (seeded)."""
    import torch

    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.weights import save_model

    torch.manual_seed(0)
    return save_model(BSRNN(ModelConfig.preset("tiny")), tmp_path_factory.mktemp("w") / "tiny")
