"""A constructed MUSDB18-HQ-layout corpus for the training tests, and a check of the loader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from training.train_data import STEMS, Corpus, DataConfig, make_batch

SR = 44100


def constructed_stems(seed: int, seconds: float) -> np.ndarray:
    """Four stems (s, c, n) easy to tell apart: centred vibrato tone, low tone, clicks, chord."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(300, 500)
    vocals = 0.2 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.25 * np.sin(2 * np.pi * rng.uniform(50, 90) * t)
    drums = np.zeros_like(t)
    for start in range(0, len(t), SR // 4):
        n = min(2000, len(t) - start)
        drums[start : start + n] = 0.4 * rng.standard_normal(n) * np.exp(-np.arange(n) / 300)
    other = sum(0.06 * np.sin(2 * np.pi * f * t) for f in rng.uniform(600, 2000, 3))
    pans = [(1.0, 1.0), (1.0, 1.0), (0.8, 1.0), (1.0, 0.5)]
    return np.stack(
        [
            np.stack([gl * x, gr * x])
            for x, (gl, gr) in zip((vocals, bass, drums, other), pans, strict=True)
        ]
    ).astype(np.float32)


def make_corpus(root: Path, train: int = 3, valid: int = 1, test: int = 1, seconds: float = 2.0):
    """Write a tiny corpus: <root>/<split>/<song>/{mixture,vocals,bass,drums,other}.wav."""
    seed = 0
    for split, count in (("train", train), ("valid", valid), ("test", test)):
        for i in range(count):
            folder = root / split / f"song{i}"
            folder.mkdir(parents=True)
            stems = constructed_stems(seed, seconds)
            seed += 1
            for name, x in zip(STEMS, stems, strict=True):
                sf.write(folder / f"{name}.wav", x.T, SR, "PCM_16")
            sf.write(folder / "mixture.wav", stems.sum(0).T, SR, "FLOAT")
    return root


def test_batches_are_a_function_of_the_step(tmp_path):
    make_corpus(tmp_path)
    corpus = Corpus(tmp_path, "train")
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.5, batch_size=2)
    a, b = make_batch(corpus, cfg, 7), make_batch(corpus, cfg, 7)
    assert a.shape == (2, 4, 2, SR // 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_batch(corpus, cfg, 8))
    assert np.abs(a.sum(1)).max() <= 0.99 + 1e-6  # the mixture is kept out of clipping


def test_carried_segments_continue_the_same_mixtures(tmp_path):
    """With carry_segments K, steps kK..kK+K-1 are one mixture window cut in K pieces."""
    from training.train_data import _draw

    make_corpus(tmp_path)
    corpus = Corpus(tmp_path, "train")
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.25, batch_size=2, carry_segments=3)
    n = SR // 4
    pieces = [make_batch(corpus, cfg, step) for step in range(3, 9)]
    assert all(p.shape == (2, 4, 2, n) for p in pieces)
    window = _draw(corpus, cfg, [cfg.seed, 1, 3], 3)  # the window of steps 3, 4, 5
    np.testing.assert_array_equal(np.concatenate(pieces[:3], -1), window)
    # scaled as a whole: one gain per item over the window, so no level jump between pieces
    assert np.abs(window.sum(1)).max() <= 0.99 + 1e-6
    assert not np.array_equal(pieces[3], window[..., :n])  # a new window every K steps
    # Each window is drawn once per process; going back or changing a piece changes nothing.
    pieces[1][:] = 0
    np.testing.assert_array_equal(make_batch(corpus, cfg, 4), window[..., n : 2 * n])
    # Another corpus under the same settings gets its own window, not the cached one.
    fewer = Corpus(tmp_path, "train", names=["song2"])
    np.testing.assert_array_equal(
        make_batch(fewer, cfg, 4), _draw(fewer, cfg, [cfg.seed, 1, 3], 3)[..., n : 2 * n]
    )
    assert not np.array_equal(make_batch(fewer, cfg, 4), window[..., n : 2 * n])


def test_mono_mixtures_are_the_same_draws_made_mono(tmp_path):
    """p_mono 1: every mixture's channels are equal, and each is the mean of the channels
    of the stereo mixture drawn with p_mono 0 (up to the anti-clipping scale)."""
    make_corpus(tmp_path)
    corpus = Corpus(tmp_path, "train")
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.25, batch_size=3, p_silence=0.0)
    stereo = make_batch(corpus, cfg, 5)
    mono = make_batch(corpus, replace(cfg, p_mono=1.0), 5)
    np.testing.assert_array_equal(mono[:, :, 0], mono[:, :, 1])
    assert not np.allclose(stereo[:, :, 0], stereo[:, :, 1])
    for b in range(cfg.batch_size):
        want = stereo[b].mean(1)
        scale = np.abs(mono[b, :, 0]).max() / np.abs(want).max()
        np.testing.assert_allclose(mono[b, :, 0], scale * want, atol=1e-6)
    half = [make_batch(corpus, replace(cfg, p_mono=0.5), k) for k in range(8)]
    flags = [np.array_equal(x[b, :, 0], x[b, :, 1]) for x in half for b in range(3)]
    assert any(flags) and not all(flags)


def test_the_worker_process_makes_the_same_batches_in_order(tmp_path):
    from training.train_data import Prefetcher

    make_corpus(tmp_path)
    corpus = Corpus(tmp_path, "train")
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.25, batch_size=2)
    ahead = Prefetcher(corpus, cfg, start=5, workers=1)
    try:
        for step in (5, 6, 7):
            got_step, batch = ahead.next()
            assert got_step == step
            np.testing.assert_array_equal(batch, make_batch(corpus, cfg, step))
    finally:
        ahead.close()
    assert ahead.proc is None


def test_closing_the_worker_under_the_trainers_sigterm_handler_is_quiet(tmp_path, capfd):
    """The worker is forked while the trainer's SIGTERM handler is installed: close() must
    end it by the signal, not by a KeyboardInterrupt traceback."""
    import signal

    from training.train import _raise_interrupt
    from training.train_data import Prefetcher

    make_corpus(tmp_path)
    corpus = Corpus(tmp_path, "train")
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.25, batch_size=2)
    before = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        ahead = Prefetcher(corpus, cfg, start=0, workers=1)
        ahead.next()
        proc = ahead.proc
        ahead.close()
    finally:
        signal.signal(signal.SIGTERM, before)
    assert proc.exitcode == -signal.SIGTERM
    assert "Traceback" not in capfd.readouterr().err


def test_the_corpus_maps_16_bit_wav_and_reads_every_other_format_at_full_scale(tmp_path):
    """PCM_16 WAV (also with a chunk before the samples) is memory-mapped; 24/32-bit PCM,
    float and double WAV and FLAC give back the same 16-bit samples (libsndfile reads a
    float file as int16 silence: the loader must not). A broken file is named in the error."""
    import pytest

    from model.errors import StemliveError

    make_corpus(tmp_path, train=2, valid=0, test=0)
    song0, song1 = tmp_path / "train" / "song0", tmp_path / "train" / "song1"
    want = [[sf.read(f / f"{s}.wav", dtype="int16")[0].T for s in STEMS] for f in (song0, song1)]
    # A LIST chunk of odd length (padded) between fmt and data, as some editors write.
    raw = (song0 / "bass.wav").read_bytes()
    at = raw.index(b"data")
    info = b"LIST" + (5).to_bytes(4, "little") + b"INFOx" + b"\0"
    body = raw[12:at] + info + raw[at:]
    (song0 / "bass.wav").write_bytes(
        b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body
    )
    formats = {
        (song0, "drums"): ("flac", "PCM_24"),
        (song0, "other"): ("wav", "PCM_32"),
        (song1, "vocals"): ("wav", "PCM_24"),
        (song1, "bass"): ("wav", "FLOAT"),
        (song1, "drums"): ("flac", "PCM_16"),
        (song1, "other"): ("wav", "DOUBLE"),
    }
    for (folder, stem), (ext, subtype) in formats.items():
        x = sf.read(folder / f"{stem}.wav")[0]
        (folder / f"{stem}.wav").unlink()
        sf.write(folder / f"{stem}.{ext}", x, SR, subtype)
    corpus = Corpus(tmp_path, "train")
    assert corpus.paths[1][2].name == "drums.flac"
    assert isinstance(corpus.songs[0][0], np.memmap) and isinstance(corpus.songs[0][1], np.memmap)
    assert not any(isinstance(x, np.memmap) for x in corpus.songs[1])
    for got, exp in zip(corpus.songs, want, strict=True):
        for stem, x in zip(got, exp, strict=True):
            assert stem.dtype == np.int16 and np.abs(x).max() > 3000  # sound, not silence
            np.testing.assert_array_equal(stem, x)
    (song1 / "other.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    with pytest.raises(StemliveError, match="other.wav"):
        Corpus(tmp_path, "train")


def test_float_samples_beyond_full_scale_are_clipped_not_wrapped(tmp_path):
    from training.train_data import _read_int16

    x = np.array([[1.5, -1.5], [0.5, -0.25], [1.0, -1.0]], np.float32)
    sf.write(tmp_path / "x.wav", x, SR, "FLOAT")
    got, sr = _read_int16(tmp_path / "x.wav")
    assert sr == SR
    np.testing.assert_array_equal(got, [[32767, -32768], [16384, -8192], [32767, -32768]])


def test_silent_stems_are_refused_with_their_files_named(tmp_path):
    """One silent stem in one song is music (an instrumental); a stem silent in every song,
    a song silent in all four stems, or a corpus of silence would train on nothing."""
    import pytest

    from model.errors import StemliveError

    make_corpus(tmp_path, train=3, valid=0, test=0)
    train = tmp_path / "train"

    def silence(song: str, stem: str) -> None:
        x = sf.read(train / song / f"{stem}.wav")[0]
        noise = np.random.default_rng(0).integers(-3, 4, x.shape) / 32768  # below -80 dBFS
        sf.write(train / song / f"{stem}.wav", noise, SR, "PCM_16")

    silence("song0", "vocals")
    assert len(Corpus(tmp_path, "train")) == 3
    silence("song1", "vocals")
    silence("song2", "vocals")
    with pytest.raises(StemliveError, match=r"the vocals stem of every song .* as silence") as e:
        Corpus(tmp_path, "train")
    assert str(train / "song0" / "vocals.wav") in str(e.value)
    for stem in ("bass", "drums", "other"):
        silence("song1", stem)
    with pytest.raises(StemliveError, match=r"all four stems of 1 of the 3 songs") as e:
        Corpus(tmp_path, "train")
    assert str(train / "song1" / "bass.wav") in str(e.value)
    for song in ("song0", "song2"):
        for stem in ("bass", "drums", "other"):
            silence(song, stem)
    with pytest.raises(StemliveError, match=r"every stem of every song in \S+ reads as silence"):
        Corpus(tmp_path, "train")


def test_model_card_sources_name_every_data_set_with_its_licence() -> None:
    from training.train_release import data_sources

    voices = "data/mir1k,data/sung_speech,data/sung_fillets,data/sung_asterisk"
    data = {"vocal_root": voices, "other_root": "data/real/unlabeled"}
    state = {"config": {"data": {**data, "p_real_other": 0.4}}, "song_names": ["tim500000"]}
    text = "\n".join(data_sources(state))
    needles = ["FluidR3", "TimGM6mb", "RESEARCH DATA", "LJSpeech", "CC BY-SA 3.0", "Muldjord"]
    needles += ["fillets-ng-data-cs, GPL-2", "asterisk-core-sounds-en-g722, CC BY-SA 3.0"]
    for needle in needles:
        assert needle in text, needle
    assert "Fish Fillets" not in "\n".join(data_sources({"config": {"data": {}}}))
    off = {"config": {"data": {**data, "p_real_other": 0.0}}, "song_names": ["song000000"]}
    assert "Frets on Fire" not in "\n".join(data_sources(off))
