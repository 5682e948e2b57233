"""`stemlive bench` and `stemlive info` report what they measure and what they load."""

import json

from model.bsrnn import BSRNN
from model.config import ModelConfig
from model.weights import save_model
from realtime.cli import main


def test_bench_reports_streaming_and_offline_speed(capsys):
    assert main(["bench", "--preset", "tiny", "--seconds", "0.5", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    s = r["streaming"]
    assert s["hop_samples"] == 64 and s["latency_samples"] == 255
    assert 0 < s["median_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert s["rtf"] > 0 and r["offline"]["x_realtime"] > 0
    assert s["parameters"] == BSRNN(ModelConfig.preset("tiny")).parameter_count()
    assert set(r["profile_ms"]) >= {"band_split", "mask_heads", "whole model step"}


def test_info_says_plainly_when_untrained(tmp_path, capsys):
    folder = save_model(BSRNN(ModelConfig.preset("tiny")), tmp_path / "u", {"trained": False})
    assert main(["info", "--model", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "UNTRAINED" in out and "255 samples = 5.8 ms" in out
    save_model(BSRNN(ModelConfig.preset("tiny")), tmp_path / "t", {"trained": True, "steps": 7})
    assert main(["info", "--model", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "UNTRAINED" not in out and "7 steps" in out


def test_info_json_of_the_shipped_model(capsys):
    assert main(["info", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"]["n_fft"] == 2048 and isinstance(r["info"]["trained"], bool)
