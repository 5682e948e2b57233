"""A constructed MUSDB18-HQ-layout corpus for the training tests, and a check of the loader."""

from __future__ import annotations

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
