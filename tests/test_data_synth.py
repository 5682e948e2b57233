"""The synthetic song generator: determinism, exact stems, stored files, singing."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from training.synth.corpus import generate_corpus, split_of
from training.synth.fluid import FluidRenderer, MidiEvent
from training.synth.song import STEMS, generate_song
from training.synth.voice import (
    Expression,
    SungLine,
    SungNote,
    available_voices,
    sing,
    syllabify,
)

SR = 44100


@pytest.fixture(scope="module")
def song():
    return generate_song(7, 4.0, SR)


def test_same_seed_same_song_bit_for_bit(song):
    generate_song(8, 3.0, SR)  # another song in between must not leak into the next one
    again = generate_song(7, 4.0, SR)
    for name in STEMS:
        assert np.array_equal(song.stems[name], again.stems[name]), name


def test_different_seeds_differ(song):
    other = generate_song(9, 4.0, SR)
    assert not np.allclose(song.stems["vocals"], other.stems["vocals"])


def test_stems_have_one_shape_and_sound(song):
    for name in STEMS:
        x = song.stems[name]
        assert x.dtype == np.float32 and x.shape == (2, 4 * SR), name
        assert np.isfinite(x).all(), name
        assert np.sqrt(np.mean(x**2)) > 1e-3, f"{name} is (nearly) silent"
    assert np.abs(song.mixture).max() <= 1.0


def test_vocals_reach_above_8khz(song):
    # The 16 kHz voices stop at 8 kHz; the generator adds sibilance and harmonics so
    # that the vocal stem does not stand out by its empty top octave.
    v = song.stems["vocals"].mean(axis=0)
    spec = np.abs(np.fft.rfft(v)) ** 2
    f = np.fft.rfftfreq(len(v), 1 / SR)
    above = spec[(f > 8500) & (f < 16000)].sum() / spec.sum()
    assert above > 1e-5


def test_corpus_files_sum_exactly_and_are_clean(tmp_path):
    results = list(generate_corpus(tmp_path, songs=2, seconds=3.0, seed=40, jobs=1))
    assert sorted(r[0] for r in results) == [40, 41]
    for seed, split, _ in results:
        folder = tmp_path / split / f"synth_{seed:08d}"
        mix, sr = sf.read(folder / "mixture.wav", dtype="float32", always_2d=True)
        assert sr == SR and mix.shape == (3 * SR, 2)
        assert sf.info(str(folder / "mixture.wav")).subtype == "FLOAT"
        total = np.zeros_like(mix)
        for name in STEMS:
            stem, sr = sf.read(folder / f"{name}.wav", dtype="float32", always_2d=True)
            assert stem.shape == mix.shape, name
            # 16-bit, as training.train_corpus writes: the format the training loader maps
            assert sf.info(str(folder / f"{name}.wav")).subtype == "PCM_16", name
            assert np.isfinite(stem).all() and np.abs(stem).max() <= 1.0, name
            total += stem
        assert np.array_equal(total, mix)
        assert np.isfinite(mix).all() and np.abs(mix).max() <= 1.0
        assert (folder / "info.json").is_file()


def test_parallel_corpus_equals_serial(tmp_path):
    serial = list(generate_corpus(tmp_path / "a", songs=2, seconds=2.0, seed=70, jobs=1))
    list(generate_corpus(tmp_path / "b", songs=2, seconds=2.0, seed=70, jobs=2))
    for seed, split, _ in serial:
        for name in ("mixture", *STEMS):
            rel = f"{split}/synth_{seed:08d}/{name}.wav"
            a = sf.read(tmp_path / "a" / rel)[0]
            b = sf.read(tmp_path / "b" / rel)[0]
            assert np.array_equal(a, b), (rel, np.abs(a - b).max())


def test_split_is_fixed_by_seed_and_roughly_90_5_5():
    splits = [split_of(s) for s in range(4000)]
    assert splits == [split_of(s) for s in range(4000)]
    share = {k: splits.count(k) / len(splits) for k in ("train", "valid", "test")}
    assert 0.87 < share["train"] < 0.93
    assert 0.03 < share["valid"] < 0.07 and 0.03 < share["test"] < 0.07


def test_fluid_renderer_is_deterministic_per_instance():
    events = [MidiEvent(0.1 * i, "on", 60 + i % 5, 90) for i in range(10)]
    events += [MidiEvent(0.1 * i + 0.08, "off", 60 + i % 5) for i in range(10)]
    with FluidRenderer(SR) as a:
        first = a.render(events, SR, 0)
        assert np.abs(first).max() > 0.01
    with FluidRenderer(SR) as b:
        assert np.array_equal(first, b.render(events, SR, 0))


def test_syllables_split_around_vowels():
    # "rising sun" as espeak's mbrola-us1 spells it
    ph = tuple((p, 0.05) for p in ["r", "AI", "z", "I", "N", "s", "V", "n"])
    syl = syllabify(ph)
    assert [s.nucleus for s in syl] == ["AI", "I", "V"]
    assert [p for p, _ in syl[1].onset] == ["z"]
    assert [p for p, _ in syl[1].coda] == ["N"] and [p for p, _ in syl[2].onset] == ["s"]


@pytest.mark.parametrize("midi", [57.0, 64.0])
def test_the_voice_sings_the_note(midi):
    voice = next(v for v in available_voices() if v.name == "us1")
    line = SungLine("la", [SungNote(0.2, 1.2, midi)])
    expr = Expression(vibrato_cents=0.0, scoop_cents=0.0)
    perf = sing(voice, [line], expr, np.random.default_rng(0), SR, 2 * SR)
    x = perf.audio[int(0.6 * SR) : int(1.1 * SR)].astype(np.float64)
    assert np.sqrt(np.mean(x**2)) > 0.01
    # Autocorrelation pitch estimate over the held vowel.
    ac = np.correlate(x, x, "full")[len(x) - 1 :]
    lo, hi = int(SR / 700), int(SR / 80)
    lag = lo + int(np.argmax(ac[lo:hi]))
    f0 = SR / lag
    target = 440 * 2 ** ((midi - 69) / 12)
    assert abs(1200 * np.log2(f0 / target)) < 50, (f0, target)


def test_all_known_voices_are_installed():
    # The generator's variety depends on them; scripts/install_synth_packages.sh installs them.
    assert {v.name for v in available_voices()} >= {"us1", "us2", "us3", "en1", "de1", "fr4"}


def test_the_training_corpus_made_in_parallel_equals_serial(tmp_path):
    """``data/gen`` (``stemlive train --ensure-data``) is the same for any --data-jobs."""
    from training.train_corpus import CorpusSpec
    from training.train_corpus import generate_corpus as generate_training_corpus

    spec = CorpusSpec(train_songs=1, train_seconds=2.0, valid_songs=1, valid_seconds=2.0,
                      test_songs=0)  # fmt: skip
    logs: list[str] = []
    generate_training_corpus(tmp_path / "a", spec, log=lambda m: None, jobs=1)
    generate_training_corpus(tmp_path / "b", spec, log=logs.append, jobs=2)
    assert sorted(m.split(": ")[1] for m in logs[1:]) == ["train/song000000", "valid/song100000"]
    for rel in ("train/song000000", "valid/song100000"):
        for name in ("mixture", *STEMS):
            a = sf.read(tmp_path / "a" / rel / f"{name}.wav")[0]
            b = sf.read(tmp_path / "b" / rel / f"{name}.wav")[0]
            assert np.array_equal(a, b), (rel, name)
