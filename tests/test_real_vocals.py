"""Real voices in training: MIR-1K conversion split by singer, the vocal chain's air above
8 kHz, and batches that mix real voices (over generated stems or their own backing)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.errors import StemliveError
from training.augment import _band_power, amp, bass_drive, brighten, sub_bass, voice_gap
from training.real_vocals import (
    TEST_SINGERS,
    VALID_SINGERS,
    VocalCorpus,
    prepare_mir1k,
    split_of,
    vocal_chain,
)
from training.train_data import Corpus, DataConfig, make_batch

SR = 44100


def _tone_clip(path: Path, seconds: float, f0: float, sr: int = 16000) -> None:
    """A voiced-like 16 kHz clip: harmonics of f0 under 8 kHz with a syllable envelope."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, int(7800 / f0)))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t) ** 2
    sf.write(path, (0.1 * x / np.max(np.abs(x))).astype(np.float32), sr)


@pytest.fixture(scope="module")
def mir1k(tmp_path_factory) -> Path:
    """A MIR-1K-shaped folder: one clip per train singer and per held-out singer."""
    src = tmp_path_factory.mktemp("mir1k_src")
    (src / "vocals").mkdir()
    (src / "backing").mkdir()
    for i, singer in enumerate(("amy", "leon", *VALID_SINGERS[:1], *TEST_SINGERS[:1])):
        name = f"{singer}_1_0{i + 1}.wav"
        _tone_clip(src / "vocals" / name, 3.0, 180 + 20 * i)
        _tone_clip(src / "backing" / name, 3.0, 55 + 5 * i)
    dst = tmp_path_factory.mktemp("mir1k") / "prepared"
    prepare_mir1k(src, dst, log=lambda m: None)
    return dst


def test_split_by_singer_never_mixes_held_out_voices(mir1k: Path) -> None:
    assert split_of("Ani_3_07") == "test" and split_of("abjones_1_01") == "valid"
    assert split_of("amy_5_02") == "train"
    assert sorted(p.name for p in (mir1k / "train").iterdir()) == ["amy_1_01", "leon_1_02"]
    assert [p.name for p in (mir1k / "valid").iterdir()] == [f"{VALID_SINGERS[0]}_1_03"]
    assert [p.name for p in (mir1k / "test").iterdir()] == [f"{TEST_SINGERS[0]}_1_04"]
    voice, sr = sf.read(mir1k / "train" / "amy_1_01" / "vocals.wav", dtype="int16")
    assert sr == SR and sf.info(mir1k / "train" / "amy_1_01" / "vocals.wav").subtype == "PCM_16"
    assert len(voice) == pytest.approx(3.0 * SR, abs=2) and np.abs(voice).max() > 1000


def test_mir1k_folder_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(StemliveError, match="not a MIR-1K folder"):
        prepare_mir1k(tmp_path, tmp_path / "out")
    with pytest.raises(StemliveError, match="holds no clip"):
        VocalCorpus(tmp_path, "train")


def test_vocal_chain_puts_a_16k_voice_above_8khz() -> None:
    """The band cue: a 16 kHz recording has nothing above 8 kHz; after the chain it has
    content there, falling smoothly from the band below (no cliff at 8 kHz)."""
    import soxr

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    voice = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 35))
    voice = voice * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(len(t))
    voice = soxr.resample(voice, 16000, SR)

    def band_db(x: np.ndarray, lo: float, hi: float) -> float:
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        return 10 * np.log10(spec[(f >= lo) & (f < hi)].mean() + 1e-30)

    before = band_db(voice, 9000, 16000) - band_db(voice, 6000, 7500)
    highs = []
    for seed in range(6):
        out = vocal_chain(voice, SR, np.random.default_rng(seed)).mean(0)
        assert np.isfinite(out).all() and out.shape == voice.shape
        highs.append(band_db(out, 9000, 16000) - band_db(out, 6000, 7500))
    assert before < -45  # the recording has (next to) nothing up there
    # Most chains add air (85 %) at a voice-like slope: far above the recording's, below
    # the band under 8 kHz.
    assert np.median(highs) > before + 20 and max(highs) < 0, (before, highs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("gen")
    rng = np.random.default_rng(1)
    for k in range(3):
        song = root / "train" / f"song{k}"
        song.mkdir(parents=True)
        for s in ("vocals", "bass", "drums", "other"):
            x = 0.1 * rng.standard_normal((3 * SR, 2))
            sf.write(song / f"{s}.wav", x, SR, "PCM_16")
    return Corpus(root, "train")


def test_real_backing_items_know_only_their_vocals(corpus: Corpus, mir1k: Path) -> None:
    cfg = DataConfig(root="", segment_seconds=0.5, batch_size=3, vocal_root=str(mir1k),
                     p_real_backing=1.0, carry_segments=1)  # fmt: skip
    stems, resid, known = make_batch(corpus, cfg, 0)
    assert np.array_equal(known, np.tile([1.0, 0.0, 0.0, 0.0], (3, 1)))
    assert (np.sqrt((resid**2).mean(axis=(1, 2))) > 1e-3).all()  # the real backing
    assert (np.sqrt((stems[:, 0] ** 2).mean(axis=(1, 2))) > 1e-3).all()  # the real voice
    assert not stems[:, 1:].any()  # no made-up bass/drums/other under a real backing
    assert np.abs(stems.sum(1) + resid).max() <= 0.99 + 1e-6


def test_real_vocals_over_generated_stems_and_carried_windows(corpus: Corpus, mir1k: Path) -> None:
    cfg = DataConfig(root="", segment_seconds=0.25, batch_size=2, vocal_root=str(mir1k),
                     p_real_vocal=0.5, p_real_backing=0.5, p_stem_fx=0.5, p_speed=0.5,
                     p_band_limit=0.5, p_mono=0.5, carry_segments=3)  # fmt: skip
    parts = [make_batch(corpus, cfg, k) for k in range(3)]
    assert all(isinstance(p, tuple) and len(p) == 3 for p in parts)
    # One window drawn once, cut into consecutive segments: the same items throughout.
    for p in parts[1:]:
        assert np.array_equal(p[2], parts[0][2])
    whole = np.concatenate([p[0] for p in parts], axis=-1)
    assert np.isfinite(whole).all() and np.abs(whole).max() > 1e-3
    # The same step gives the same batch (a resumed run sees what it would have seen).
    again = make_batch(corpus, replace(cfg), 1)
    assert all(np.array_equal(a, b) for a, b in zip(again, parts[1], strict=True))


def test_voice_gap_silences_one_span_with_ramps() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = voice_gap(SR, SR, rng)
        assert g.shape == (SR,) and g.min() == 0.0 and g.max() <= 1.0
        silent = np.flatnonzero(g == 0.0)
        assert silent[-1] - silent[0] + 1 == len(silent)  # one span
        assert len(silent) >= 0.2 * SR - 2 * 0.01 * SR
        assert np.abs(np.diff(g)).max() <= 1 / (0.01 * SR) + 1e-6  # 10 ms ramps, no clicks


def test_real_voices_with_rests_keep_exact_labels(corpus: Corpus, mir1k: Path) -> None:
    base = DataConfig(root="", segment_seconds=1.0, batch_size=4, vocal_root=str(mir1k),
                      p_real_backing=1.0, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, p_voice_gap=1.0), 0)
    np.testing.assert_array_equal(a[2], b[2])  # the same items know the same stems
    for i in range(4):
        scale = np.abs(b[1][i]).max() / np.abs(a[1][i]).max()  # the peak rescaling only
        np.testing.assert_allclose(b[1][i], scale * a[1][i], atol=1e-5)  # backing untouched
        voice = np.abs(b[0][i, 0]).max(0)
        window = 441  # 10 ms
        quiet = voice[: len(voice) // window * window].reshape(-1, window).max(1) == 0.0
        assert quiet.sum() >= 10  # a rest of >= 100 ms: the voice, and its label, are silent
        assert not quiet.all() or np.abs(voice).max() == 0.0
        assert np.abs(b[0][i, 0]).max() <= scale * np.abs(a[0][i, 0]).max() + 1e-6


def test_vocal_db_moves_the_vocals_against_the_rest(corpus: Corpus, mir1k: Path) -> None:
    base = DataConfig(root="", segment_seconds=1.0, batch_size=4, vocal_root=str(mir1k),
                      p_real_vocal=0.5, p_real_backing=0.5, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, vocal_db=-6.0), 0)
    for i in range(4):
        rest_a = a[0][i, 1:].sum(0) + a[1][i]
        rest_b = b[0][i, 1:].sum(0) + b[1][i]
        scale = np.abs(rest_b).max() / np.abs(rest_a).max()  # the peak rescaling only
        np.testing.assert_allclose(rest_b, scale * rest_a, atol=1e-5)
        np.testing.assert_allclose(b[0][i, 0], scale * 10 ** (-6 / 20) * a[0][i, 0], atol=1e-5)
    assert (np.abs(a[0][:, 0]).max(axis=(1, 2)) > 0.01).sum() >= 2  # there were vocals to move
    with pytest.raises(StemliveError, match="vocal_db"):
        DataConfig(vocal_db=30.0)


def test_input_level_brings_every_item_to_it(corpus: Corpus, mir1k: Path) -> None:
    """Items at the separator's input level: the mixture (stems plus the unlabelled
    backing) at -22 dB RMS, stems and backing scaled alike, whatever the draws gave."""
    base = DataConfig(root="", segment_seconds=1.0, batch_size=4, vocal_root=str(mir1k),
                      p_real_vocal=0.5, p_real_backing=0.5, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, input_level_db=-22.0), 0)
    for i in range(4):
        mix = b[0][i].sum(0) + b[1][i]
        assert abs(10 * np.log10(np.mean(mix**2)) + 22.0) < 0.01
        scale = np.abs(b[0][i]).max() / np.abs(a[0][i]).max()
        np.testing.assert_allclose(b[0][i], scale * a[0][i], atol=1e-5)
        np.testing.assert_allclose(b[1][i], scale * a[1][i], atol=1e-5)
    levels = [10 * np.log10(np.mean((a[0][i].sum(0) + a[1][i]) ** 2)) for i in range(4)]
    assert max(levels) - min(levels) > 1.0  # without it the items' levels differ
    with pytest.raises(StemliveError, match="input_level_db"):
        DataConfig(input_level_db=6.0)


def test_real_vocals_need_a_vocal_folder() -> None:
    with pytest.raises(StemliveError, match="vocal_root"):
        DataConfig(p_real_vocal=0.5)
    with pytest.raises(StemliveError, match="between 0 and 1"):
        DataConfig(p_band_limit=1.5)


@pytest.fixture(scope="module")
def voice_only(tmp_path_factory) -> Path:
    """Two clips without backing.wav (as `data sung-speech` writes), each a constant level
    that tells them apart from MIR-1K's tones."""
    root = tmp_path_factory.mktemp("sung")
    for k in range(2):
        clip = root / "train" / f"utt{k}_v0"
        clip.mkdir(parents=True)
        sf.write(clip / "vocals.wav", np.full(2 * SR, 0.25, np.float32), SR, "PCM_16")
    return root


def test_real_backing_never_draws_a_clip_without_backing(mir1k: Path, voice_only: Path) -> None:
    voices = VocalCorpus([mir1k, voice_only], "train")
    assert len(voices) == 4 and len(voices.backed) == 2
    rng = np.random.default_rng(0)
    sung_draws = 0
    for _ in range(40):
        voice, back = voices.segment(rng, 4000, 1e-4, backed=True)
        assert not np.allclose(voice, 0.25, atol=1e-3) and np.abs(back).max() > 1e-3
        voice, back = voices.segment(rng, 4000, 1e-4)
        if np.allclose(voice, 0.25, atol=1e-3):
            sung_draws += 1
            assert not back.any()
    assert 5 < sung_draws < 35  # voices alone are drawn too, when no backing is wanted
    with pytest.raises(StemliveError, match="no clip .* has a backing.wav"):
        VocalCorpus(voice_only, "train").segment(rng, 4000, 1e-4, backed=True)


def test_batches_from_comma_separated_vocal_folders(
    corpus: Corpus, mir1k: Path, voice_only: Path
) -> None:
    cfg = DataConfig(root="", segment_seconds=0.25, batch_size=4, p_real_vocal=0.5,
                     vocal_root=f"{mir1k},{voice_only}", p_real_backing=0.5)  # fmt: skip
    for step in range(3):
        stems, resid, known = make_batch(corpus, cfg, step)
        backed = known[:, 1] == 0
        assert np.isfinite(stems).all() and (np.abs(resid[backed]).max(axis=(1, 2)) > 1e-3).all()
    with pytest.raises(StemliveError, match="has a backing.wav"):
        make_batch(corpus, replace(cfg, vocal_root=str(voice_only)), 0)


@pytest.fixture(scope="module")
def guitars(tmp_path_factory) -> Path:
    """Two ``<song>/guitar.wav`` as `stemlive data real` writes them: a 1 kHz tone that
    starts after a second of silence (the energy floor must skip the silence)."""
    root = tmp_path_factory.mktemp("guitars")
    t = np.arange(3 * SR) / SR
    for k in range(2):
        x = 0.2 * np.sign(np.sin(2 * np.pi * 1000.0 * t)) * (t > 1.0)
        (root / f"song{k}").mkdir()
        sf.write(root / f"song{k}" / "guitar.wav", np.stack([x, x], 1), SR, "PCM_16")
    return root


def _tone_share(x: np.ndarray, f: float = 1000.0) -> float:
    """The share of (c, n)'s energy within 20 Hz of ``f`` and its odd harmonics up to 5f."""
    spec = np.abs(np.fft.rfft(x.mean(0))) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    near = sum((np.abs(freqs - k * f) < 20) for k in (1, 3, 5))
    return float(spec[near > 0].sum() / (spec.sum() + 1e-12))


def test_real_instruments_join_the_other_stem_and_only_it(corpus: Corpus, guitars: Path) -> None:
    base = DataConfig(root="", segment_seconds=0.5, batch_size=3, p_silence=0.0,
                      p_band_limit=1e-9, carry_segments=1)  # fmt: skip
    with_guitar = replace(base, other_root=str(guitars), p_real_other=1.0)
    a = make_batch(corpus, base, 0)  # every stem known: arrays, no residual
    b = make_batch(corpus, with_guitar, 0)
    for i in range(3):
        scale = np.sqrt((b[i, 0] ** 2).mean() / (a[i, 0] ** 2).mean())  # the peak rescaling
        for s in range(3):  # vocals, bass, drums: the same draws, only rescaled
            np.testing.assert_allclose(b[i, s], scale * a[i, s], atol=1e-5)
        added = b[i, 3] - scale * a[i, 3]
        assert np.sqrt((added**2).mean()) > 0.1 * np.sqrt((b[i, :3] ** 2).mean())
        assert _tone_share(added) > 0.5  # the guitar (sometimes coloured), not silence or noise
        assert _tone_share(a[i, 3]) < 0.05


def test_real_instruments_under_a_real_backing_join_the_unknown_rest(
    corpus: Corpus, mir1k: Path, guitars: Path
) -> None:
    cfg = DataConfig(root="", segment_seconds=0.5, batch_size=2, vocal_root=str(mir1k),
                     p_real_backing=1.0, other_root=str(guitars), p_real_other=1.0,
                     carry_segments=1)  # fmt: skip
    stems, resid, known = make_batch(corpus, cfg, 0)
    assert not stems[:, 1:].any()  # nothing labelled but the voice
    assert all(_tone_share(r) > 0.2 for r in resid)  # the guitar is in the residual


def test_the_amp_distorts_like_a_guitar_amp_and_keeps_the_level() -> None:
    t = np.arange(SR) / SR
    x = np.stack([0.05 * np.sin(2 * np.pi * 220.0 * t)] * 2).astype(np.float32)
    spec_in = np.abs(np.fft.rfft(x[0])) ** 2
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    for seed in range(5):
        y = amp(x, SR, np.random.default_rng(seed))
        assert y.shape == x.shape and np.isfinite(y).all()
        np.testing.assert_allclose(np.sqrt((y**2).mean()), np.sqrt((x**2).mean()), rtol=1e-3)
        spec = np.abs(np.fft.rfft(y[0])) ** 2
        third = spec[np.abs(freqs - 660.0) < 5].sum()
        assert third > 1e-2 * spec[np.abs(freqs - 220.0) < 5].sum()  # clipped: a strong 3rd
        assert third > 1e4 * spec_in[np.abs(freqs - 660.0) < 5].sum()
        # The cabinet: the harmonics fall off above it.
        assert spec[freqs > 12000].sum() < 1e-2 * spec[(freqs > 500) & (freqs < 3000)].sum()
    assert not amp(np.zeros((2, SR), np.float32), SR, np.random.default_rng(0)).any()


def test_amped_items_change_their_other_stem_only(corpus: Corpus) -> None:
    base = DataConfig(root="", segment_seconds=0.5, batch_size=3, p_silence=0.0,
                      p_band_limit=1e-9, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, p_amp=1.0), 0)
    crest = lambda x: np.abs(x).max() / np.sqrt((x**2).mean())  # noqa: E731
    for i in range(3):
        scale = np.sqrt((b[i, 0] ** 2).mean() / (a[i, 0] ** 2).mean())  # the peak rescaling
        for s in range(3):  # vocals, bass, drums: the same draws, only rescaled
            np.testing.assert_allclose(b[i, s], scale * a[i, s], atol=1e-5)
        # The same level, clipped: the noise's peaks flattened.
        np.testing.assert_allclose(np.sqrt((b[i, 3] ** 2).mean()),
                                   scale * np.sqrt((a[i, 3] ** 2).mean()), rtol=1e-3)  # fmt: skip
        assert crest(b[i, 3]) < 0.8 * crest(a[i, 3])


def _tilt(x: np.ndarray) -> float:
    """dB of the 1-4 kHz band against the 250-1000 Hz band."""
    return 10 * np.log10(_band_power(x, SR, 1000, 4000) / _band_power(x, SR, 250, 1000))


def test_brighten_lifts_a_dark_voice_to_a_records_tilt_and_keeps_the_level() -> None:
    t = np.arange(SR) / SR
    dark = sum(np.sin(2 * np.pi * 200 * k * t) * 10 ** (-6 * k / 20) for k in range(1, 30))
    dark = np.stack([dark, dark]).astype(np.float32)
    assert _tilt(dark) < -16
    for seed in range(10):
        y = brighten(dark, SR, np.random.default_rng(seed))
        assert -16 < _tilt(y) < -2  # the shelf's target, -14..-4, give or take its slope
        np.testing.assert_allclose(np.sqrt((y**2).mean()), np.sqrt((dark**2).mean()), rtol=1e-3)
    bright = sum(np.sin(2 * np.pi * 200 * k * t) for k in range(1, 30))
    bright = np.stack([bright, bright]).astype(np.float32)
    assert _tilt(bright) > -4
    np.testing.assert_allclose(brighten(bright, SR, np.random.default_rng(0)), bright, atol=1e-4)


def test_brightened_items_change_their_real_voice_only(corpus: Corpus, tmp_path: Path) -> None:
    t = np.arange(2 * SR) / SR
    for k, f0 in enumerate((150.0, 210.0)):  # dark voices: harmonics falling 6 dB each
        clip = tmp_path / "train" / f"utt{k}_v0"
        clip.mkdir(parents=True)
        x = sum(np.sin(2 * np.pi * f0 * h * t) * 10 ** (-6 * h / 20) for h in range(1, 25))
        sf.write(clip / "vocals.wav", (0.3 * x / np.abs(x).max()).astype(np.float32), SR)
    base = DataConfig(root="", segment_seconds=1.0, batch_size=4, vocal_root=str(tmp_path),
                      p_real_vocal=1.0, p_silence=0.0, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, p_bright_voice=1.0), 0)
    for i in range(4):
        scale = np.abs(b[i, 1:].sum(0)).max() / np.abs(a[i, 1:].sum(0)).max()  # peak rescaling
        np.testing.assert_allclose(b[i, 1:], scale * a[i, 1:], atol=1e-5)  # the rest untouched
        va, vb = a[i, 0], b[i, 0]
        np.testing.assert_allclose(np.sqrt((vb**2).mean()), scale * np.sqrt((va**2).mean()),
                                   rtol=1e-3)  # fmt: skip
        assert _tilt(va) < -14 and _tilt(vb) > _tilt(va) + 3  # a dark voice lifted


def test_real_instruments_need_their_folder(tmp_path: Path, corpus: Corpus) -> None:
    with pytest.raises(StemliveError, match="other_root"):
        DataConfig(p_real_other=0.5)
    cfg = DataConfig(root="", segment_seconds=0.5, batch_size=1, other_root=str(tmp_path),
                     p_real_other=0.5, carry_segments=1)  # fmt: skip
    with pytest.raises(StemliveError, match="stemlive data real"):
        make_batch(corpus, cfg, 0)


def test_held_out_instrumentals_are_never_trained_on(tmp_path: Path, guitars: Path) -> None:
    from training.real_vocals import HELD_OUT_SONGS, InstrumentCorpus

    for name in HELD_OUT_SONGS:
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / "guitar.wav", np.full((SR, 2), 0.1), SR, "PCM_16")
    with pytest.raises(StemliveError, match="guitar.wav"):
        InstrumentCorpus([tmp_path])
    assert len(InstrumentCorpus([tmp_path, guitars]).tracks) == 2  # only the two others


def test_record_backing_puts_a_real_voice_over_a_real_record(
    corpus: Corpus, mir1k: Path, tmp_path: Path
) -> None:
    """Items whose real voice sings over a record: the record (here a 1 kHz square wave,
    unlike the MIR-1K backings' tones) is the unknown residual, only the voice is known."""
    t = np.arange(3 * SR) / SR
    x = 0.2 * np.sign(np.sin(2 * np.pi * 1000.0 * t))
    (tmp_path / "song0").mkdir()
    sf.write(tmp_path / "song0" / "mixture.wav", np.stack([x, x], 1), SR, "PCM_16")
    cfg = DataConfig(root="", segment_seconds=0.5, batch_size=4, vocal_root=str(mir1k),
                     p_real_backing=1.0, other_root=str(tmp_path), p_record_backing=1.0,
                     carry_segments=1)  # fmt: skip
    stems, resid, known = make_batch(corpus, cfg, 0)
    assert np.array_equal(known, np.tile([1.0, 0.0, 0.0, 0.0], (4, 1)))
    assert not stems[:, 1:].any()
    assert all(_tone_share(r) > 0.5 for r in resid)  # the record, sometimes coloured
    assert all(np.sqrt((stems[i, 0] ** 2).mean()) > 1e-3 for i in range(4))  # a voice on it
    assert all(_tone_share(stems[i, 0]) < 0.1 for i in range(4))  # the voice, not the record
    # Without it, the same items sing over their own karaoke backing (no square wave).
    _, own, _ = make_batch(corpus, replace(cfg, p_record_backing=0.0), 0)
    assert all(_tone_share(r) < 0.1 for r in own)
    # Rests over a record: the first item's record and voice are the same draws, the voice
    # silent for 20-100 % of the item (the record alone there, labelled "no vocals").
    rested, resid2, _ = make_batch(corpus, replace(cfg, p_record_gap=1.0), 0)
    scale = np.sqrt((resid2[0] ** 2).mean() / (resid[0] ** 2).mean())  # the peak rescaling
    np.testing.assert_allclose(resid2[0], scale * resid[0], atol=1e-5)
    silent = np.abs(rested[0, 0]).max(0) == 0
    assert 0.2 * silent.size - 1000 <= silent.sum() < silent.size
    kept, before = rested[0, 0][:, ~silent], scale * stems[0, 0][:, ~silent]
    assert (np.abs(kept) <= np.abs(before) + 1e-5).all()  # the same voice, faded at the ramps
    assert (~np.isclose(kept, before, atol=1e-5)).sum(1).max() <= 2 * SR // 100  # two ramps
    with pytest.raises(StemliveError, match="p_real_backing"):
        DataConfig(vocal_root=str(mir1k), other_root=str(tmp_path), p_record_backing=0.5)
    with pytest.raises(StemliveError, match="other_root"):
        DataConfig(vocal_root=str(mir1k), p_real_backing=1.0, p_record_backing=0.5)
    with pytest.raises(StemliveError, match="mixture.wav"):
        make_batch(corpus, replace(cfg, other_root=str(mir1k)), 0)


def test_bass_drive_puts_harmonics_in_the_mids_and_keeps_the_low_end_and_level(
    corpus: Corpus,
) -> None:
    t = np.arange(SR) / SR
    # A bass line's partials: 82 Hz (about E2) and its octave, nothing above 250 Hz.
    x = np.stack([0.1 * np.sin(2 * np.pi * 82 * t) + 0.05 * np.sin(2 * np.pi * 164 * t)] * 2)
    x = x.astype(np.float32)
    for seed in range(5):
        y = bass_drive(x, SR, np.random.default_rng(seed))
        assert y.shape == x.shape and np.isfinite(y).all()
        np.testing.assert_allclose(np.sqrt((y**2).mean()), np.sqrt((x**2).mean()), rtol=1e-3)
        low = _band_power(y, SR, 30, 250)
        assert low > 0.5 * _band_power(x, SR, 30, 250)  # the clean low end stays
        assert _band_power(y, SR, 250, 1000) > 1e-3 * low  # driven harmonics, -30 dB or more
        assert _band_power(x, SR, 250, 1000) < 1e-6 * low
    # In a batch it changes the bass stem only.
    base = DataConfig(root="", segment_seconds=0.5, batch_size=3, p_silence=0.0,
                      p_band_limit=1e-9, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    b = make_batch(corpus, replace(base, p_bass_drive=1.0), 0)
    for i in range(3):
        scale = np.sqrt((b[i, 0] ** 2).mean() / (a[i, 0] ** 2).mean())
        for s in (0, 2, 3):
            np.testing.assert_allclose(b[i, s], scale * a[i, s], atol=1e-5)
        assert not np.allclose(b[i, 1], scale * a[i, 1], atol=1e-3)


def test_sub_bass_leaves_the_fundamental_and_only_basses_not_driven(corpus: Corpus) -> None:
    t = np.arange(SR) / SR
    # 55 Hz with the partials of a plucked bass up to 440 Hz.
    x = sum(0.1 / k * np.sin(2 * np.pi * 55 * k * t) for k in range(1, 9))
    x = np.stack([x, x]).astype(np.float32)
    for corner in (60, 100, 140):
        y = sub_bass(x, SR, corner)
        assert y.shape == x.shape and np.isfinite(y).all()
        np.testing.assert_allclose(np.sqrt((y**2).mean()), np.sqrt((x**2).mean()), rtol=1e-3)
        # The partials from the third up end 20 dB or more under the fundamental.
        assert _band_power(y, SR, 150, 1000) < 1e-2 * _band_power(y, SR, 30, 80)
        assert _band_power(x, SR, 150, 1000) > 0.1 * _band_power(x, SR, 30, 80)
    base = DataConfig(root="", segment_seconds=0.5, batch_size=4, p_silence=0.0,
                      p_band_limit=1e-9, carry_segments=1)  # fmt: skip
    a = make_batch(corpus, base, 0)
    driven = make_batch(corpus, replace(base, p_bass_drive=0.5), 0)
    both = make_batch(corpus, replace(base, p_bass_drive=0.5, p_bass_sub=1.0), 0)
    subbed = 0
    for i in range(4):
        # Items are scaled as a whole after the draws: compare at the untouched vocals' scale.
        d, ab = (
            x[i] / np.sqrt((x[i, 0] ** 2).mean() / (a[i, 0] ** 2).mean()) for x in (driven, both)
        )
        for s in (0, 2, 3):  # the other stems are untouched
            np.testing.assert_allclose(ab[s], a[i, s], atol=1e-5)
        if not np.allclose(d[1], a[i, 1], atol=1e-3):  # a driven bass stays driven
            np.testing.assert_allclose(ab[1], d[1], atol=1e-5)
        else:  # every other bass loses its upper partials
            subbed += 1
            assert _band_power(ab[1], SR, 300, 2000) < 0.01 * _band_power(a[i, 1], SR, 300, 2000)
    assert 0 < subbed < 4


def test_train_takes_the_real_data_and_loss_options(tmp_path: Path, mir1k: Path, capsys) -> None:
    """`stemlive train` with real voices over records (with rests), driven basses and the
    compressed loss term: the options land in the run's config and a step trains with them."""
    import json

    from realtime.cli import main

    rng = np.random.default_rng(3)
    for split in ("train", "valid"):
        song = tmp_path / "gen" / split / "song0"
        song.mkdir(parents=True)
        for s in ("vocals", "bass", "drums", "other"):
            sf.write(song / f"{s}.wav", 0.1 * rng.standard_normal((2 * SR, 2)), SR, "PCM_16")
    rec = tmp_path / "records" / "song0"
    rec.mkdir(parents=True)
    for name in ("mixture", "guitar"):
        sf.write(rec / f"{name}.wav", 0.1 * rng.standard_normal((2 * SR, 2)), SR, "PCM_16")
    run = tmp_path / "run"
    args = (
        f"train --run {run} --preset tiny --data {tmp_path / 'gen'} --steps 10 --segment 0.5 "
        f"--batch 2 --workers 0 --vocals {mir1k} --p-real-backing 0.5 --others "
        f"{tmp_path / 'records'} --p-record-backing 1 --p-record-gap 0.5 --p-bass-drive 0.5 "
        "--p-bass-sub 0.5 "
        "--comp-weight 0.2 --comp-power 0.5"
    )
    assert main(args.split()) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["p_record_backing"] == 1.0 and cfg["data"]["p_record_gap"] == 0.5
    assert cfg["data"]["p_bass_drive"] == 0.5 and cfg["data"]["p_bass_sub"] == 0.5
    assert cfg["loss"]["comp_weight"] == 0.2 and cfg["loss"]["comp_power"] == 0.5
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) >= 2
    loss = float(log[-1].split(",")[3])
    assert np.isfinite(loss) and loss != 0.0
    capsys.readouterr()
