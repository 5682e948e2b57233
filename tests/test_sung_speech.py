"""Speech made to sing (training/sung_speech.py): the output follows the melody it was
given, vowels are held while consonants keep their length, and the CLI writes the layout
that VocalCorpus reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("parselmouth")

from realtime.cli import main  # noqa: E402
from training.real_vocals import VocalCorpus  # noqa: E402
from training.sung_speech import _time_map, f0_accuracy, sing  # noqa: E402

SR = 16000
# (start, end, kind) of the fake utterance: voiced syllables with dips, a noise consonant
LAYOUT = [(0.10, 0.35, "v"), (0.35, 0.60, "v"), (0.60, 0.75, "n"), (0.75, 1.05, "v"),
          (1.05, 1.30, "v")]  # fmt: skip


def fake_speech(seed: int = 0) -> np.ndarray:
    """Speech-like audio: glottal pulses at a gliding 100-130 Hz through two formants,
    syllables with intensity dips between them, one noise burst (a fricative)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(1.4 * SR)
    t = np.arange(n) / SR
    f0 = 100 + 30 * t / t[-1]
    phase = np.cumsum(f0 / SR)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    x = pulses.copy()
    for fc, bw in ((700, 90), (1200, 110)):  # formant resonators
        r = np.exp(-np.pi * bw / SR)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / SR), r * r], x)
    out = np.zeros(n)
    for s, e, kind in LAYOUT:
        a, b = int(s * SR), int(e * SR)
        env = np.sin(np.pi * np.linspace(0, 1, b - a)) ** 0.7  # a syllable's swell
        src = x[a:b] if kind == "v" else 0.02 * rng.standard_normal(b - a)
        out[a:b] = src * env
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


@pytest.mark.parametrize("ratio", [1.0, 0.9, 1.12])
def test_sung_speech_follows_its_melody(ratio: float) -> None:
    sung = sing(fake_speech(), SR, np.random.default_rng(3), ratio)
    share, frames = f0_accuracy(sung)
    assert frames > 60 and share > 0.8, (share, frames)
    assert 4.5 <= sung.info["vibrato_hz"] <= 6.5 and sung.info["notes"] >= 3
    # The melody differs from the speech: more than one note, not the 100-130 Hz glide.
    hz = sung.target_hz[np.isfinite(sung.target_hz)]
    assert np.ptp(12 * np.log2(hz)) > 2


def test_vowels_are_held_and_consonants_keep_their_length() -> None:
    sung = sing(fake_speech(), SR, np.random.default_rng(5))
    t_out = sung.target_times
    # The time map the melody was computed on ends where Praat's resynthesis ends.
    assert abs(t_out[-1] - len(sung.audio) / 44100) < 0.02
    grid = np.arange(len(t_out)) * 0.0025

    def stretch(s: float, e: float) -> float:
        return float(np.interp(e, grid, t_out) - np.interp(s, grid, t_out)) / (e - s)

    assert 0.9 < stretch(0.62, 0.73) < 1.15  # the fricative
    assert stretch(0.10, 0.60) > 1.2 and stretch(0.75, 1.30) > 1.2  # the sung syllables
    assert len(sung.audio) / 44100 > 1.4 * 1.2


def test_time_map_integrates_a_linear_duration_tier() -> None:
    grid = np.arange(0, 3.0001, 0.001)
    out = _time_map([(1.0, 1.0), (2.0, 3.0)], grid)
    # 1 s at 1x, 1 s ramping 1 -> 3 (mean 2), 1 s at 3x
    assert out[-1] == pytest.approx(1 + 2 + 3, abs=1e-3)


def test_cli_writes_voice_only_clips_that_vocal_corpus_reads(tmp_path: Path, capsys) -> None:
    src = tmp_path / "speech"
    src.mkdir()
    sf.write(src / "utt1.wav", fake_speech(1), SR)
    out = tmp_path / "sung"
    args = ["data", "sung-speech", "--src", str(src), "--out", str(out), "--variants", "2"]
    assert main(args) == 0
    assert "2 new clips" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "train").iterdir()) == ["utt1_v0", "utt1_v1"]
    assert main(args) == 0 and "0 new clips" in capsys.readouterr().out  # resumable
    corpus = VocalCorpus(out, "train")
    assert len(corpus) == 2 and corpus.backed == []
    v, _ = corpus.clips[0]
    assert len(v) > 1.4 * 44100 * 1.2 and np.abs(v).max() > 10000
    assert main(["data", "sung-speech", "--src", str(tmp_path / "none"), "--out", str(out)]) == 2
