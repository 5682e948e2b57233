"""Loaders and augmentation on a tiny generated corpus."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from model.errors import StemliveError
from training.datasets import (
    STEMS,
    AugmentConfig,
    MemoryTrack,
    RemixDataset,
    SegmentDataset,
    decode_stem_mp4,
    open_tracks,
    rms_db,
)
from training.synth.corpus import generate_corpus

SR = 44100


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    list(generate_corpus(root, songs=2, seconds=3.0, seed=11, jobs=1))
    # Both songs in one folder of song folders, whatever split they fell into.
    return root


def _all_tracks(root):
    tracks = []
    for split in ("train", "valid", "test"):
        if (root / split).is_dir():
            tracks += open_tracks(root, split)
    return tracks


def test_open_tracks_reads_the_layout(corpus):
    tracks = _all_tracks(corpus)
    assert len(tracks) == 2
    t = tracks[0]
    assert t.sample_rate == SR and t.frames == 3 * SR
    x = t.read("vocals", 1000, 500)
    ref, _ = sf.read(corpus.glob(f"*/{t.name}/vocals.wav").__next__(), dtype="float32")
    assert x.shape == (2, 500) and np.array_equal(x, ref[1000:1500].T)
    # Reading past the end pads with zeros rather than returning a short segment.
    assert t.read("bass", t.frames - 10, 100).shape == (2, 100)


def test_remix_examples_add_up_and_have_the_right_shapes(corpus):
    ds = RemixDataset(_all_tracks(corpus), AugmentConfig(segment_seconds=1.0), seed=1)
    it = iter(ds)
    for _ in range(6):
        mix, targets = next(it)
        assert mix.dtype == torch.float32 and mix.shape == (2, SR)
        assert targets.shape == (len(STEMS), 2, SR)
        assert torch.allclose(mix, targets.sum(0), atol=1e-6)


def test_gains_stay_within_range():
    # A constant stem makes the applied gain readable from the output.
    stems = np.full((4, 2, SR), 3277, dtype=np.int16)  # 0.1 full scale
    track = MemoryTrack("const", stems, SR)
    cfg = AugmentConfig(segment_seconds=0.1, gain_db=10.0, p_silence=0.0)
    ds = RemixDataset([track], cfg, seed=3)
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(200):
        _, targets = ds.example(rng)
        gains += list(20 * np.log10(targets[:, 0, 0].numpy() / (3277 / 32768)))
    gains = np.array(gains)
    assert gains.min() >= -10.0 - 1e-3 and gains.max() <= 10.0 + 1e-3
    assert gains.min() < -8 and gains.max() > 8  # the whole range is used


def test_silence_filter_redraws_silent_segments():
    # Vocals sound only in the second half of the song; every drawn vocal segment must sound.
    stems = np.zeros((4, 2, 4 * SR), dtype=np.int16)
    rng = np.random.default_rng(0)
    stems[:, :, :] = (rng.standard_normal((4, 2, 4 * SR)) * 2000).astype(np.int16)
    stems[0, :, : 2 * SR] = 0
    track = MemoryTrack("half", stems, SR)
    cfg = AugmentConfig(segment_seconds=0.5, p_silence=0.0, gain_db=0.0, p_swap=0.0)
    ds = RemixDataset([track], cfg, seed=5)
    for _ in range(50):
        _, targets = ds.example(rng)
        assert rms_db(targets[0].numpy()) > cfg.silent_db


def test_silence_filter_off_would_fail():
    # The same song without the filter gives silent vocal segments: the test above can fail.
    stems = np.zeros((4, 2, 4 * SR), dtype=np.int16)
    stems[1:] = 1000
    track = MemoryTrack("half", stems, SR)
    cfg = AugmentConfig(segment_seconds=0.5, p_silence=0.0, max_tries=1)
    _, targets = RemixDataset([track], cfg).example(np.random.default_rng(0))
    assert rms_db(targets[0].numpy()) < cfg.silent_db


def test_random_silencing_and_swap_happen():
    stems = np.zeros((4, 2, SR), dtype=np.int16)
    stems[:, 0] = 1000  # left only: a swap moves it right
    track = MemoryTrack("left", stems, SR)
    cfg = AugmentConfig(segment_seconds=0.1, p_silence=0.3, p_swap=0.5, gain_db=0.0)
    ds = RemixDataset([track], cfg)
    rng = np.random.default_rng(1)
    silent = swapped = total = 0
    for _ in range(100):
        _, t = ds.example(rng)
        for s in range(4):
            total += 1
            silent += float(t[s].abs().max()) == 0
            swapped += float(t[s, 1].abs().max()) > 0
    assert 0.2 < silent / total < 0.4
    assert 0.3 < swapped / (total - silent) < 0.7


def test_segment_dataset_covers_songs(corpus):
    ds = SegmentDataset(_all_tracks(corpus), segment_seconds=1.0)
    assert len(ds) == 2 * 3
    mix, targets = ds[1]
    assert torch.equal(mix, targets.sum(0))


def test_stem_mp4_roundtrip(tmp_path):
    # A small .stem.mp4 made with ffmpeg: five AAC streams, tones of different pitch.
    t = np.arange(SR) / SR
    paths = []
    for i, f in enumerate([0, 220, 330, 440, 550]):
        x = (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) if f else None
        if x is None:
            x = np.zeros(SR, np.float32)
        p = tmp_path / f"s{i}.wav"
        sf.write(p, np.stack([x, x], 1), SR)
        paths.append(p)
    out = tmp_path / "song.stem.mp4"
    import subprocess

    cmd = ["ffmpeg", "-v", "error", "-y"]
    for p in paths:
        cmd += ["-i", str(p)]
    for i in range(5):
        cmd += ["-map", f"{i}:a"]
    cmd += ["-c:a", "aac", "-b:a", "128k", str(out)]
    subprocess.run(cmd, check=True)
    decoded = decode_stem_mp4(out)
    assert decoded.shape[0] == 5 and decoded.shape[1] == 2
    # Streams 1..4 are drums, bass, other, vocals; we return vocals, bass, drums, other.
    expected = {"vocals": 550, "bass": 330, "drums": 220, "other": 440}
    tracks = open_tracks(out)
    for s, f in expected.items():
        x = tracks[0].read(s, 10000, 8192)[0]
        peak = np.argmax(np.abs(np.fft.rfft(x))) * SR / 8192
        assert abs(peak - f) < 10, (s, peak)


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(StemliveError, match="no songs"):
        open_tracks(tmp_path, "train")
