"""The Separator: reconstruction, causality, streaming == offline, latency."""

import numpy as np
import pytest
import torch

from model.config import PRESETS
from model.separator import Separator
from model.stft import CausalSTFT
from tests.separators import constant_masks

RATE = 44100


def _noise(n: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


def _stream(sep: Separator, x: np.ndarray, sizes) -> np.ndarray:
    """Feed x through process() with the given block sizes (cycled)."""
    sep.prepare(RATE, max(sizes), x.shape[0])
    out, pos, i = [], 0, 0
    while pos < x.shape[1]:
        n = min(sizes[i % len(sizes)], x.shape[1] - pos)
        out.append(sep.process(x[:, pos : pos + n]))
        pos, i = pos + n, i + 1
    return np.concatenate(out, axis=-1)


def _assert_streams_as_offline(sep: Separator, x: np.ndarray, chunk_frames: int) -> None:
    """Streaming x in blocks of 1, of 37 and of mixed sizes gives the offline stems, delayed
    by the latency."""
    offline = sep.separate(x, chunk_frames=chunk_frames)
    d = sep.latency_samples
    for sizes in ([1], [37], [512, 3, 700]):
        streamed = _stream(sep, x, sizes)
        assert np.abs(streamed[..., d:] - offline[..., :-d]).max() < 1e-4


def _ones_masks(sep: Separator) -> Separator:
    """Make every mask exactly 1."""
    return constant_masks(sep, [1.0] * len(sep.stems))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_stft_round_trip_reconstructs(preset):
    cfg = PRESETS[preset]
    stft = CausalSTFT(cfg.n_fft, cfg.hop)
    x = torch.from_numpy(_noise(5 * cfg.n_fft + 123))
    y = stft.synthesise(stft.analyse(x), x.shape[-1])
    assert (y - x).abs().max().item() < 1e-5


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_all_ones_masks_give_input_delayed_by_latency(preset):
    sep = _ones_masks(Separator.from_preset(preset))
    x = _noise(3 * sep.n_fft + 77)
    y = _stream(sep, x, [sep.hop_size // 3 + 1])
    d = sep.latency_samples
    assert np.abs(y[:, :, :d]).max() == 0.0
    for s in range(len(sep.stems)):
        assert np.abs(y[s, :, d:] - x[:, : x.shape[1] - d]).max() < 1e-5
    # The offline path is latency-compensated: the identity.
    assert np.abs(sep.separate(x) - x[None]).max() < 1e-5


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("sizes", [[1], [37], [256], [512], [4096], "random"])
def test_streaming_equals_offline_tiny(sizes, backend):
    sep = Separator.from_preset("tiny", seed=3, backend=backend)
    x = _noise(9000, seed=1)
    if sizes == "random":
        sizes = list(np.random.default_rng(5).integers(1, 700, 50))
    offline = sep.separate(x, chunk_frames=13)
    streamed = _stream(sep, x, sizes)
    d = sep.latency_samples
    assert streamed.shape == offline.shape
    assert np.abs(streamed[..., d:] - offline[..., :-d]).max() < 1e-4


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_streaming_equals_offline_shipped_model(backend):
    sep = Separator.load(backend=backend)
    x = _noise(RATE // 2, seed=2)
    offline = sep.separate(x)
    d = sep.latency_samples
    for sizes in ([512], [1000, 3, 77]):
        streamed = _stream(sep, x, sizes)
        assert np.abs(streamed[..., d:] - offline[..., :-d]).max() < 1e-4


@pytest.mark.parametrize("preset", ["tiny", "standard"])
def test_causality_future_input_changes_no_earlier_output(preset):
    sep = Separator.from_preset(preset, seed=1)
    n = 4 * sep.n_fft + 301
    x = _noise(6 * sep.n_fft)
    x2 = x.copy()
    x2[:, n:] = _noise(x.shape[1] - n, seed=9)  # change everything from sample n on
    y1, y2 = _stream(sep, x, [129]), _stream(sep, x2, [129])
    assert np.array_equal(y1[..., :n], y2[..., :n])
    assert not np.allclose(y1[..., n:], y2[..., n:])  # the change does reach later output
    # Offline (latency-compensated): output before n - latency is untouched.
    d = sep.latency_samples
    o1, o2 = sep.separate(x), sep.separate(x2)
    assert np.abs(o1[..., : n - d] - o2[..., : n - d]).max() < 1e-6


def test_reset_restarts_as_fresh():
    sep = Separator.from_preset("tiny")
    x = _noise(3000)
    first = _stream(sep, x, [100])
    sep.process(_noise(100, seed=4))
    sep.reset()
    again = np.concatenate([sep.process(x[:, i : i + 100]) for i in range(0, 3000, 100)], -1)
    assert np.array_equal(first, again)


def test_non_finite_input_is_silenced_and_counted():
    sep = Separator.from_preset("tiny")
    x = _noise(2000)
    bad = x.copy()
    bad[0, 500] = np.nan
    bad[1, 700] = np.inf
    clean = x.copy()
    clean[0, 500] = clean[1, 700] = 0.0
    y_bad = _stream(sep, bad, [64])
    assert sep.nonfinite_samples == 2
    y_clean = _stream(sep, clean, [64])
    assert np.isfinite(y_bad).all()
    assert np.array_equal(y_bad, y_clean)


def test_mono_and_errors():
    sep = Separator.from_preset("tiny")
    y = _stream(sep, _noise(1000, channels=1), [50])
    assert y.shape == (4, 1, 1000)
    with pytest.raises(ValueError, match="resample"):
        sep.prepare(48000, 256)
    with pytest.raises(ValueError, match="block size"):
        sep.prepare(RATE, 10000)
    sep.prepare(RATE, 64, 2)
    with pytest.raises(ValueError, match="exceeds"):
        sep.process(_noise(65))
    # a transposed signal, (n, channels), is refused before it allocates n channels
    with pytest.raises(ValueError, match=r"\(n, channels\)\? Pass audio.T"):
        sep.separate(_noise(20000).T)


def test_onnx_and_torch_backends_agree_frame_by_frame():
    x = _noise(20 * 512, seed=7)
    a = _stream(Separator.from_preset("standard", seed=2, backend="torch"), x, [512])
    b = _stream(Separator.from_preset("standard", seed=2, backend="onnx"), x, [512])
    assert np.abs(a - b).max() < 1e-5
    assert np.abs(a).max() > 1e-3  # not trivially silent


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        Separator.from_preset("tiny", backend="cuda")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_residual_stem_takes_what_the_others_leave(backend):
    """residual_stem="other": the stems sum to the input, streamed and offline, and the
    other stems are exactly those of the same weights without it."""
    from dataclasses import replace

    from model.bsrnn import BSRNN
    from model.config import ModelConfig

    cfg = ModelConfig.preset("tiny", residual_stem="other")
    torch.manual_seed(4)
    model = BSRNN(cfg)
    plain = BSRNN(replace(cfg, residual_stem=""))
    plain.load_state_dict(model.state_dict())
    sep, ref = Separator(model, backend=backend), Separator(plain, backend=backend)
    x = _noise(9000, seed=3)
    y = _stream(sep, x, [100])
    d = sep.latency_samples
    assert np.abs(y.sum(0)[:, d:] - x[:, :-d]).max() < 1e-5
    offline = sep.separate(x)
    assert np.abs(offline.sum(0) - x).max() < 1e-5
    assert np.abs(offline[:3] - ref.separate(x)[:3]).max() < 1e-6
    assert np.abs(offline[3]).max() > 1e-3  # the residual is not silent
    with pytest.raises(ValueError, match="residual_stem 'piano'"):
        ModelConfig.preset("tiny", residual_stem="piano")


def _mid_model(seed: int = 6, weight: float = 0.03):
    """The tiny preset with mid input and a non-zero map of the mix-down."""
    from model.bsrnn import BSRNN
    from model.config import ModelConfig

    torch.manual_seed(seed)
    model = BSRNN(ModelConfig.preset("tiny", mid_input=True))
    with torch.no_grad():
        model.split.mid_weight.normal_(0.0, weight)
    return model


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_mid_input_streams_as_offline_and_causally(backend):
    sep = Separator(_mid_model(), backend=backend)
    x = _noise(9000, seed=1)
    _assert_streams_as_offline(sep, x, chunk_frames=13)
    n = 5000
    x2 = x.copy()
    x2[1, n:] = _noise(x.shape[1] - n, channels=1, seed=9)[0]  # the right channel's future
    y1, y2 = _stream(sep, x, [129]), _stream(sep, x2, [129])
    assert np.array_equal(y1[..., :n], y2[..., :n])  # nothing earlier moves, in either channel
    assert not np.allclose(y1[:, 0, n:], y2[:, 0, n:])  # the left channel hears the right
    assert _stream(sep, _noise(1000, channels=1), [50]).shape == (4, 1, 1000)


def test_mid_input_couples_channels_only_when_on():
    """Without mid input the left channel's stems ignore the right channel; with it they
    do not. A zero map of the mix-down is the model without it (a grown model starts as
    the one it was grown from), and items are grouped by their signal's channels."""
    from dataclasses import replace

    from model.bsrnn import BSRNN

    mid = _mid_model()
    plain = BSRNN(replace(mid.cfg, mid_input=False))
    plain.load_state_dict(mid.state_dict(), strict=False)
    x = _noise(4000, seed=2)
    x2 = x.copy()
    x2[1] = _noise(4000, channels=1, seed=8)[0]
    for model, coupled in ((plain, False), (mid, True)):
        sep = Separator(model, backend="torch")
        left, left2 = sep.separate(x)[:, 0], sep.separate(x2)[:, 0]
        assert np.array_equal(left, left2) != coupled
    with torch.no_grad():
        zeroed = _mid_model()
        zeroed.split.mid_weight.zero_()
    same = Separator(zeroed, backend="torch").separate(x)
    assert np.abs(same - Separator(plain, backend="torch").separate(x)).max() < 1e-6
    spec = CausalSTFT(mid.cfg.n_fft, mid.cfg.hop).analyse(torch.from_numpy(np.concatenate([x, x2])))
    with torch.no_grad():
        both, _ = mid(spec, None, channels=2)
        first, _ = mid(spec[:2])
        second, _ = mid(spec[2:])
    assert torch.allclose(both, torch.cat([first, second]), atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_ratio_blend_mixes_in_the_stems_power_shares(backend):
    """ratio_blend 1: constant masks v give stems v_i^2 / sum v^2 times the input; 0.3 of
    it over a trained-like model streams as offline, and a residual stem still sums."""
    from dataclasses import replace

    from model.bsrnn import BSRNN

    values = np.array([0.1, 0.2, 0.3, 0.4])
    src = constant_masks(Separator.from_preset("tiny"), list(values)).model
    model = BSRNN(replace(src.cfg, ratio_blend=1.0))
    model.load_state_dict(src.state_dict())
    sep = Separator(model, backend=backend)
    x = _noise(6000, seed=4)
    out = sep.separate(x)
    want = values**2 / np.sum(values**2)
    for i, share in enumerate(want):
        assert np.abs(out[i] - share * x).max() < 1e-4
    torch.manual_seed(5)
    cfg = replace(sep.cfg, residual_stem="other", ratio_blend=0.3)
    model = BSRNN(cfg)
    plain = BSRNN(replace(cfg, ratio_blend=0.0))
    plain.load_state_dict(model.state_dict())
    sep, ref = Separator(model, backend=backend), Separator(plain, backend=backend)
    offline = sep.separate(x, chunk_frames=7)
    d = sep.latency_samples
    assert np.abs(_stream(sep, x, [37])[..., d:] - offline[..., :-d]).max() < 1e-4
    assert np.abs(offline.sum(0) - x).max() < 1e-5
    assert np.abs(offline - ref.separate(x)).max() > 1e-3  # the blend changes the stems


def _levelled(level_db: float, seed: int = 3, backend: str = "torch") -> Separator:
    """The tiny preset (which reads absolute band levels, as every BSRNN here does) with
    the separator's input level at ``level_db`` (0: off)."""
    from dataclasses import replace

    from model.bsrnn import BSRNN

    torch.manual_seed(seed)
    return Separator(BSRNN(replace(PRESETS["tiny"], input_level_db=level_db)), backend=backend)


def test_input_level_makes_the_stems_follow_the_input_gain():
    """With the input level on, the input 20 dB quieter gives the same stems 20 dB quieter
    (the network sees the same input); off, the network hears the level and they differ."""
    x = _noise(20000, seed=6)
    quiet = 0.1 * x
    on = _levelled(-26.0)
    assert np.abs(on.separate(quiet) - 0.1 * on.separate(x)).max() < 1e-5
    off = _levelled(0.0)
    assert np.abs(off.separate(quiet) - 0.1 * off.separate(x)).max() > 1e-4  # 20x the "on" bound
    # The masks go on the input as it came: all-ones masks still give the input back.
    ones = _ones_masks(on)
    assert np.abs(ones.separate(quiet) - quiet[None]).max() < 1e-6


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_input_level_streams_as_offline_and_causally(backend):
    sep = _levelled(-26.0, backend=backend)
    x = _noise(12000, seed=1) * np.linspace(0.2, 3.0, 12000, dtype=np.float32)  # a swell
    _assert_streams_as_offline(sep, x, chunk_frames=5)
    d = sep.latency_samples
    n = 7000
    x2 = x.copy()
    x2[:, n:] *= 8.0  # much louder from sample n on: the level must not know it earlier
    y1, y2 = _stream(sep, x, [129]), _stream(sep, x2, [129])
    assert np.array_equal(y1[..., :n], y2[..., :n])
    o1, o2 = sep.separate(x), sep.separate(x2)
    assert np.abs(o1[..., : n - d] - o2[..., : n - d]).max() < 1e-6
    assert np.abs(o1[..., n:] / 8.0 - o2[..., n:]).max() > 1e-4  # the level does move later


def test_input_level_waits_for_sound_and_stays_bounded():
    from model.level import MAX_GAIN_DB, InputLevel

    level = InputLevel(-26.0, 512, RATE)
    assert level.update(np.zeros((2, 512), np.float32)) == 1.0  # silence: no gain yet
    tone = np.full((2, 512), 10 ** (-46 / 20), np.float32)  # -46 dB: 20 dB up to the target
    assert abs(20 * np.log10(level.update(tone)) - 20.0) < 1e-3
    loud = InputLevel(-26.0, 512, RATE)
    assert abs(20 * np.log10(loud.update(np.ones((2, 512), np.float32))) + MAX_GAIN_DB) < 1e-3
    level.reset()
    assert level.update(np.zeros((2, 512), np.float32)) == 1.0
    with pytest.raises(ValueError, match="input_level_db"):
        _levelled(3.0)


def test_training_validation_hears_the_input_level_as_the_separator():
    from training.train import separate_items

    sep = _levelled(-26.0)
    x = 3.0 * _noise(9000, seed=2)
    with torch.no_grad():
        valid = separate_items(sep.model, torch.from_numpy(x)).numpy()
    assert np.abs(valid - sep.separate(x)).max() < 1e-5
    plain = _levelled(0.0)
    assert np.abs(valid - plain.separate(x)).max() > 1e-4


def test_int8_backend_stays_close_to_the_float_step_and_causal():
    """onnx-int8 (dynamic int8 weights) on the shipped default: each stem within 20 dB SDR
    of the float step's on the demo song, the residual stem still completes the input, and
    a change at sample n reaches no earlier output."""
    from pathlib import Path

    import soundfile as sf

    song = Path(__file__).resolve().parent.parent / "model" / "demo" / "demo_song.flac"
    x = np.ascontiguousarray(sf.read(song, dtype="float32", frames=RATE * 3)[0].T)
    ref = _stream(Separator.load(backend="onnx"), x, [512])
    sep = Separator.load(backend="onnx-int8")
    got = _stream(sep, x, [512])
    for s in range(len(sep.stems)):
        err = np.sum((got[s] - ref[s]) ** 2)
        assert 10 * np.log10(np.sum(ref[s] ** 2) / err) > 20.0, sep.stems[s]
    d = sep.latency_samples
    assert np.abs(got.sum(0)[:, d:] - x[:, :-d]).max() < 1e-4
    n = RATE + 301
    x2 = x.copy()
    x2[:, n:] = _noise(x.shape[1] - n, seed=9)
    got2 = _stream(sep, x2, [512])
    assert np.array_equal(got[..., :n], got2[..., :n])
    assert not np.allclose(got[..., n:], got2[..., n:])


@pytest.mark.parametrize("int8", [False, True])
def test_the_exported_step_is_cached_by_its_weights_and_a_damaged_copy_is_rebuilt(
    tmp_path, monkeypatch, int8
):
    """The second step of the same weights comes from the cache and computes the same masks;
    other weights get their own graph; a damaged cache file is exported again and replaced;
    a cache that cannot be written (a file where the folder should be) costs nothing."""
    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.onnx_step import OnnxStep

    monkeypatch.setenv("STEMLIVE_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = BSRNN(ModelConfig.preset("tiny")).eval()
    spec = np.random.default_rng(0).standard_normal((2, model.cfg.n_bins, 2)).astype(np.float32)

    def masks(step: OnnxStep) -> np.ndarray:
        return step(spec, step.init_state())[0]

    first = OnnxStep(model, 2, int8)
    files = list((tmp_path / "cache").iterdir())
    assert not first.from_cache and len(files) == 1
    again = OnnxStep(model, 2, int8)
    assert again.from_cache
    assert np.array_equal(masks(again), masks(first))
    torch.manual_seed(1)
    other = OnnxStep(BSRNN(ModelConfig.preset("tiny")).eval(), 2, int8)
    assert not other.from_cache and len(list((tmp_path / "cache").iterdir())) == 2
    assert not np.allclose(masks(other), masks(first))
    files[0].write_bytes(b"not a graph")
    mended = OnnxStep(model, 2, int8)
    assert not mended.from_cache
    assert np.array_equal(masks(mended), masks(first))
    assert OnnxStep(model, 2, int8).from_cache
    (tmp_path / "blocked").write_text("a file")
    monkeypatch.setenv("STEMLIVE_CACHE", str(tmp_path / "blocked"))
    unwritable = OnnxStep(model, 2, int8)
    assert not unwritable.from_cache
    assert np.array_equal(masks(unwritable), masks(first))
    monkeypatch.setenv("STEMLIVE_CACHE", "off")
    assert not OnnxStep(model, 2, int8).from_cache


def test_the_graph_cache_keeps_the_most_recently_used(tmp_path, monkeypatch):
    import os

    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.onnx_step import CACHE_KEEP, OnnxStep

    cache = tmp_path / "cache"
    monkeypatch.setenv("STEMLIVE_CACHE", str(cache))
    torch.manual_seed(0)
    model = BSRNN(ModelConfig.preset("tiny")).eval()
    kept = OnnxStep(model, 1)
    (ours,) = cache.iterdir()
    for i in range(CACHE_KEEP + 3):  # older graphs of other models
        old = cache / f"step-old{i:02d}.onnx"
        old.write_bytes(b"x")
        os.utime(old, (1000 + i, 1000 + i))
    os.utime(ours, (500, 500))  # the oldest of all, until it is read again
    assert OnnxStep(model, 1).from_cache
    OnnxStep(model, 2)  # a new graph: the cache is pruned
    names = {p.name for p in cache.iterdir()}
    assert len(names) == CACHE_KEEP and ours.name in names
    assert "step-old00.onnx" not in names and f"step-old{CACHE_KEEP + 2:02d}.onnx" in names
    assert kept.from_cache is False
