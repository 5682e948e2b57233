"""`stemlive separate` on many kinds of files, good and bad."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from model.separator import Separator
from realtime.cli import main

STEMS = ("vocals", "bass", "drums", "other")


def _tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    sig = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack(sig, axis=1).astype(np.float32)  # soundfile's (n, channels)


def _separate(weights, *args: str) -> int:
    """``stemlive separate ARGS --model WEIGHTS`` in this process; returns the exit code."""
    return main(["separate", *args, "--model", str(weights)])


@pytest.mark.parametrize(
    ("rate", "channels", "fmt", "subtype"),
    [
        (44100, 2, "WAV", "PCM_16"),
        (44100, 1, "WAV", "PCM_16"),
        (22050, 2, "WAV", "PCM_24"),
        (48000, 2, "WAV", "FLOAT"),
        (96000, 1, "WAV", "PCM_U8"),
        (44100, 2, "FLAC", "PCM_16"),
        (32000, 2, "OGG", "VORBIS"),
    ],
)
def test_outputs_match_input_rate_length_and_channels(
    tmp_path, tiny_weights, rate, channels, fmt, subtype
):
    src = tmp_path / f"song.{fmt.lower()}"
    sf.write(src, _tone(rate, 0.7, channels), rate, format=fmt, subtype=subtype)
    info = sf.info(src)
    code = _separate(
        tiny_weights, str(src), "-o", str(tmp_path / "out"), "--mix", "vocals=0", "--quiet"
    )
    assert code == 0
    for name in (*STEMS, "mix"):
        data, r = sf.read(tmp_path / "out" / "song" / f"{name}.wav", always_2d=True)
        assert r == rate
        assert data.shape == (info.frames, channels)
        assert np.isfinite(data).all()


def test_stems_are_the_offline_separation_and_mix_is_their_weighted_sum(tmp_path, tiny_weights):
    x = _tone(44100, 1.0, 2)
    src = tmp_path / "a.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    assert (
        _separate(
            tiny_weights, str(src), "-o", str(tmp_path), "--mix", "vocals=0,drums=0.5", "--quiet"
        )
        == 0
    )
    expected = Separator.load(tiny_weights).separate(x.T)
    stems = np.stack([sf.read(tmp_path / "a" / f"{s}.wav")[0].T for s in STEMS])
    assert np.abs(stems - expected).max() < 1e-6
    mix = sf.read(tmp_path / "a" / "mix.wav")[0].T
    assert np.abs(mix - (stems[1] + 0.5 * stems[2] + stems[3])).max() < 1e-5


def test_non_finite_samples_become_silence_with_a_warning(tmp_path, tiny_weights, capsys):
    x = _tone(44100, 0.5, 2)
    x[100, 0], x[200, 1], x[300, 0] = np.nan, np.inf, -np.inf
    src = tmp_path / "nan.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    assert _separate(tiny_weights, str(src), "-o", str(tmp_path), "--quiet") == 0
    assert "3 NaN or infinite samples" in capsys.readouterr().err
    out, _ = sf.read(tmp_path / "nan" / "vocals.wav")
    assert np.isfinite(out).all() and out.shape == x.shape


def test_more_than_two_channels_are_downmixed_with_a_warning(tmp_path, tiny_weights, capsys):
    src = tmp_path / "six.wav"
    sf.write(src, _tone(44100, 0.3, 6), 44100)
    assert _separate(tiny_weights, str(src), "-o", str(tmp_path), "--quiet") == 0
    assert "6 channels downmixed to stereo" in capsys.readouterr().err
    assert sf.info(tmp_path / "six" / "bass.wav").channels == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable audio file"), (b"RIFF\x00\x00garbage" * 10, "not a readable audio")],
)
def test_corrupt_files_give_one_line_errors(tmp_path, tiny_weights, capsys, content, message):
    src = tmp_path / "bad.wav"
    src.write_bytes(content)
    code = _separate(tiny_weights, str(src), "-o", str(tmp_path / "o"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and message in err[0] and "bad.wav" in err[0]
    assert not (tmp_path / "o" / "bad").exists()


def test_empty_audio_and_missing_file(tmp_path, tiny_weights, capsys):
    src = tmp_path / "empty.wav"
    sf.write(src, np.zeros((0, 2), np.float32), 44100)
    assert _separate(tiny_weights, str(src), str(tmp_path / "gone.wav"), "-o", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "empty.wav: the file holds no samples" in err
    assert "gone.wav: no such file" in err


def test_bad_mix_and_bad_model_are_user_errors(tmp_path, tiny_weights, capsys):
    src = tmp_path / "a.wav"
    sf.write(src, _tone(44100, 0.2, 2), 44100)
    assert _separate(tiny_weights, str(src), "-o", str(tmp_path), "--mix", "kazoo=1") == 2
    assert "bad mix item 'kazoo=1'" in capsys.readouterr().err
    assert _separate(tmp_path, str(src), "-o", str(tmp_path)) == 2
    assert "config.json is missing" in capsys.readouterr().err


def test_command_line_exit_code_and_no_traceback(tmp_path):
    src = tmp_path / "bad.flac"
    src.write_bytes(b"fLaC not really")
    proc = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "separate", str(src), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.flac: not a readable audio file" in proc.stderr
