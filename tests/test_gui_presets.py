"""The latency presets of the settings dialog load the shipped models (no Qt needed)."""

from __future__ import annotations

from gui.engine_adapter import create_engine
from gui.engine_api import EngineSettings


def test_the_latency_preset_switches_between_the_shipped_models(tmp_path):
    adapter = create_engine(EngineSettings())
    standard = adapter.engine.separator
    assert standard.cfg.n_fft == 2048 and adapter.model_trained
    try:
        adapter.start(EngineSettings(latency_preset="low-latency"))
        low = adapter.engine.separator
        assert (low.cfg.n_fft, low.cfg.hop) == (1024, 256) and adapter.model_trained
        assert low.latency_samples < standard.latency_samples
        assert adapter.engine.status().running
        adapter.start(EngineSettings(latency_preset="standard"))
        assert adapter.engine.separator.cfg.n_fft == 2048
    finally:
        adapter.stop()
