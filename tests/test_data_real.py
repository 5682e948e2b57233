"""Converting the real material found on the machine (stempeg clip, Frets on Fire songs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.errors import StemliveError
from training.datasets import STEMS, open_tracks
from training.real_material import convert_fretsonfire, convert_stempeg, stempeg_example


def test_stempeg_clip_becomes_a_labelled_song(tmp_path):
    assert stempeg_example() is not None, "pip install stempeg (in the train extra)"
    line = convert_stempeg(tmp_path, 44100)
    assert line.startswith("stempeg: ")
    tracks = open_tracks(tmp_path, "test")
    assert len(tracks) == 1 and tracks[0].frames > 5 * 44100
    for s in STEMS:
        x = tracks[0].read(s, 0, tracks[0].frames)
        assert np.sqrt(np.mean(x**2)) > 1e-3, f"{s} of the real clip is silent"
    # The stems of the real clip add up to roughly its mixture (a separate master).
    folder = next((tmp_path / "test").iterdir())
    mix, _ = sf.read(folder / "mixture.wav", dtype="float32")
    total = sum(sf.read(folder / f"{s}.wav", dtype="float32")[0] for s in STEMS)
    residual = np.sum((mix - total) ** 2) / np.sum(mix**2)
    assert residual < 0.1


def test_fretsonfire_song_is_split_into_mixture_guitar_backing(tmp_path):
    root = tmp_path / "songs" / "pack" / "My Song"
    root.mkdir(parents=True)
    t = np.arange(44100) / 44100
    sf.write(root / "guitar.ogg", 0.8 * np.sin(2 * np.pi * 330 * t), 44100)
    sf.write(root / "song.ogg", 0.8 * np.sin(2 * np.pi * 110 * t[:30000]), 44100)
    lines = list(convert_fretsonfire(tmp_path / "out", 44100, tmp_path / "songs"))
    assert len(lines) == 1 and "pack_my_song" in lines[0]
    folder = tmp_path / "out" / "unlabeled" / "pack_my_song"
    mix, sr = sf.read(folder / "mixture.wav")
    guitar, _ = sf.read(folder / "guitar.wav")
    backing, _ = sf.read(folder / "backing.wav")
    assert sr == 44100 and mix.shape == guitar.shape == backing.shape == (44100, 2)
    assert np.abs(mix).max() <= 1.0
    # 16-bit files: the sum matches up to rounding.
    assert np.abs(mix - guitar - backing).max() < 3 / 32768


def test_missing_fretsonfire_is_reported_not_fatal(tmp_path):
    lines = list(convert_fretsonfire(tmp_path, 44100, tmp_path / "nowhere"))
    assert len(lines) == 1 and "skipped" in lines[0]


def test_the_estimate_figure_shows_where_an_estimate_comes_from(tmp_path: Path) -> None:
    from training.spectrogram import estimate_figure

    sr, n = 44100, 44100 * 2
    t = np.arange(n) / sr
    song = tmp_path / "song"
    song.mkdir()
    stems = {
        "vocals": 0.1 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t)),
        "bass": 0.1 * np.sin(2 * np.pi * 55 * t),
        "drums": 0.05 * np.random.default_rng(0).standard_normal(n) * (t % 0.5 < 0.05),
        "other": 0.05 * np.sign(np.sin(2 * np.pi * 330 * t)),
    }
    for name, x in stems.items():
        sf.write(song / f"{name}.wav", np.stack([x, x], 1), sr, "FLOAT")
    sf.write(song / "mixture.wav", np.stack([sum(stems.values())] * 2, 1), sr, "FLOAT")
    out = tmp_path / "fig" / "est.png"
    result = estimate_figure(song, out, stem="bass")
    assert out.is_file() and out.stat().st_size > 10_000
    assert np.isfinite(result["sdr"])
    # The coefficients say what the estimate is made of: the default finds most of the bass.
    assert result["coef_bass"] > 0.5 and abs(result["coef_vocals"]) < 0.3
    with pytest.raises(StemliveError, match="no stem"):
        estimate_figure(song, out, stem="kazoo")
    (song / "other.wav").unlink()
    with pytest.raises(StemliveError, match="other.wav"):
        estimate_figure(song, out)
