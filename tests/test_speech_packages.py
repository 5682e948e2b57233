"""Gathering the Debian packages' speech into folders for sung speech."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from model.errors import StemliveError
from training.speech_packages import gather_asterisk, gather_fillets


def _tone(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_fillets_clips_of_every_level_are_linked_under_distinct_names(tmp_path):
    root = tmp_path / "sound"
    for level in ("airplane", "city"):
        (root / level / "cs").mkdir(parents=True)
        sf.write(root / level / "cs" / "x-v-hello.ogg", _tone(0.5, 22050), 22050)
    (root / "city" / "en").mkdir()
    sf.write(root / "city" / "en" / "x-v-hello.ogg", _tone(0.5, 22050), 22050)
    out = tmp_path / "out"
    assert gather_fillets(out, root) == 2
    names = sorted(p.name for p in out.iterdir())
    assert names == ["airplane_x-v-hello.ogg", "city_x-v-hello.ogg"]
    x, sr = sf.read(out / names[0])
    assert sr == 22050 and len(x) == 11025
    assert gather_fillets(out, root) == 2  # again: nothing breaks, nothing doubles
    assert len(list(out.iterdir())) == 2


def test_asterisk_prompts_are_decoded_from_g722(tmp_path):
    root = tmp_path / "Allison"
    (root / "digits").mkdir(parents=True)
    wav = tmp_path / "tone.wav"
    sf.write(wav, _tone(1.0, 16000), 16000)
    for name in ("hello.g722", "digits/1.g722"):
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-f", "g722"]
        subprocess.run([*cmd, str(root / name)], check=True)
    out = tmp_path / "out"
    assert gather_asterisk(out, root) == 2
    assert sorted(p.name for p in out.iterdir()) == ["digits_1.wav", "hello.wav"]
    y, sr = sf.read(out / "hello.wav")
    assert sr == 16000 and abs(len(y) - 16000) < 400
    # the decoded tone is the tone: G.722 keeps a 220 Hz sine nearly intact
    spectrum = np.abs(np.fft.rfft(y[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 220) < 3


def test_a_missing_package_says_what_to_install(tmp_path):
    with pytest.raises(StemliveError, match="apt-get install fillets-ng-data-cs"):
        gather_fillets(tmp_path / "out", tmp_path / "nothing")
    with pytest.raises(StemliveError, match="apt-get install asterisk-core-sounds-en-g722"):
        gather_asterisk(tmp_path / "out", tmp_path / "nothing")
