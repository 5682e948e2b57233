"""`stemlive data ...`: user errors are one line and exit code 2; the layout on disk."""

import mido

from realtime.cli import main


def test_synth_rejects_bad_counts(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--songs", "0"]) == 2
    err = capsys.readouterr().err
    assert "--songs must be at least 1" in err and len(err.strip().splitlines()) == 1


def test_synth_writes_the_musdb_layout_and_midi(tmp_path):
    args = "data synth --songs 1 --seconds 3 --seed 3 --jobs 1 --midi --out".split()
    assert main([*args, str(tmp_path)]) == 0
    folders = list(tmp_path.glob("*/synth_00000003"))
    assert len(folders) == 1 and folders[0].parent.name in ("train", "valid", "test")
    names = sorted(p.name for p in folders[0].glob("*.wav"))
    assert names == ["bass.wav", "drums.wav", "mixture.wav", "other.wav", "vocals.wav"]
    midi = mido.MidiFile(folders[0] / "song.mid")
    notes = sum(1 for t in midi.tracks for m in t if m.type == "note_on")
    lyrics = [m.text for t in midi.tracks for m in t if m.type == "lyrics"]
    assert notes > 10 and lyrics, "the MIDI file should hold the parts and the sung syllables"
    assert 2.0 < midi.length <= 3.01  # notes are cut where the audio is


def test_synth_soundfont_option_renders_with_another_bank(tmp_path, capsys):
    import numpy as np
    import pytest
    import soundfile as sf

    from training.train_corpus import TIMBRE_SOUNDFONT as tim

    assert main(["data", "synth", "--out", str(tmp_path), "--soundfont", "nope.sf2"]) == 2
    assert "--soundfont nope.sf2 is not a file" in capsys.readouterr().err
    if not tim.is_file():
        pytest.skip("timgm6mb-soundfont is not installed")
    args = "data synth --songs 1 --seconds 2 --seed 5 --jobs 1 --out".split()
    assert main([*args, str(tmp_path / "a")]) == 0
    assert main([*args, str(tmp_path / "b"), "--soundfont", str(tim)]) == 0
    (a,) = (tmp_path / "a").glob("*/synth_00000005/drums.wav")
    (b,) = (tmp_path / "b").glob("*/synth_00000005/drums.wav")
    x, y = sf.read(a)[0], sf.read(b)[0]
    # Same arrangement, other instruments: the drums are not the same samples.
    assert x.shape == y.shape and np.abs(y).max() > 0.01 and not np.allclose(x, y, atol=1e-3)
