"""Shared test set-up: offscreen Qt, one torch thread, small helpers."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def graph_cache(tmp_path_factory):
    """The exported step graphs of this test session, kept apart from the user's cache."""
    folder = tmp_path_factory.mktemp("graph_cache")
    old = os.environ.get("STEMLIVE_CACHE")
    os.environ["STEMLIVE_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("STEMLIVE_CACHE", None)
    else:
        os.environ["STEMLIVE_CACHE"] = old


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """An untrained tiny-preset weights folder (seeded)."""
    import torch

    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.weights import save_model

    torch.manual_seed(0)
    return save_model(BSRNN(ModelConfig.preset("tiny")), tmp_path_factory.mktemp("w") / "tiny")


@pytest.fixture
def gui_store(tmp_path):
    """The window's settings in a fresh INI file."""
    from PySide6.QtCore import QSettings

    from gui.settings_store import SettingsStore

    return SettingsStore(QSettings(str(tmp_path / "stemlive.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def running_window(qtbot, gui_store, tmp_path):
    """A running window on the real engine, no output device, tiny untrained model."""
    from gui.engine_adapter import create_engine
    from gui.engine_api import EngineSettings
    from gui.main_window import MainWindow
    from model.separator import Separator

    engine = create_engine(EngineSettings(), separator=Separator.from_preset("tiny"))
    w = MainWindow(engine, gui_store, record_root=tmp_path / "rec")
    qtbot.addWidget(w)
    w.show()
    w.start()
    qtbot.waitUntil(lambda: w.last_snapshot.running, timeout=20000)
    yield w
    w.shutdown()
