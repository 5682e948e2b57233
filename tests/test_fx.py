"""Effect chains: chain files, slots, the rack streamed == offline, key shift, `separate --fx`.

Real plug-ins throughout: pedalboard's built-ins and Debian's zam-plugins VST3s
(ZaMaximX2 reports 480 samples of latency; ZamEQ2 is mono-only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.errors import StemliveError
from realtime.cli import main
from realtime.fx import Slot, SlotSpec, list_plugins, load_chains, parse_chains
from realtime.fxrack import ConstantMix, FxRack
from realtime.keyshift import KeyShifter

STEMS = ("vocals", "bass", "drums", "other")
VST3 = Path("/usr/lib/vst3")
MAXIM = str(VST3 / "ZaMaximX2.vst3")  # 480 samples of latency
EQ = str(VST3 / "ZamEQ2.vst3")  # mono only
RATE = 44100

# Three effects per stem and three on the master, every plug-in that is exact in any
# fixed block size (ZamDelay, marked block-size dependent, is left out).
CHAINS = {
    "vocals": [
        {"plugin": "Compressor", "threshold_db": -20, "ratio": 4},
        {"plugin": "Reverb", "wet_level": 0.3},
        {"plugin": MAXIM, "threshold_db": -6},
    ],
    "bass": [
        {"plugin": "Gain", "gain_db": -6},
        {"plugin": "LowpassFilter", "cutoff_frequency_hz": 800},
        {"plugin": "Distortion", "drive_db": 10},
    ],
    "drums": [
        {"plugin": EQ, "boost_cut_1_db": 6},
        {"plugin": "NoiseGate", "threshold_db": -40},
        {"plugin": "Chorus", "mix": 0.3},
    ],
    "other": [
        {"plugin": "Delay", "delay_seconds": 0.05, "mix": 0.3},
        {"plugin": "Phaser"},
        {"plugin": "PeakFilter", "gain_db": 3, "bypass": True},
    ],
    "master": [
        {"plugin": "HighShelfFilter", "gain_db": -3},
        {"plugin": "Limiter", "threshold_db": -3},
        {"plugin": "/usr/lib/vst3/ZamCompX2.vst3", "threshold_db": -12},
    ],
}


@pytest.fixture(scope="module")
def stems():
    rng = np.random.default_rng(1)
    return (0.2 * rng.standard_normal((4, 2, RATE))).astype(np.float32)


def _stream(rack: FxRack, stems: np.ndarray, sizes, gains) -> tuple[np.ndarray, np.ndarray]:
    """Stream with block sizes drawn from ``sizes`` in turn; latency taken off like render."""
    n = stems.shape[2]
    pad = np.concatenate([stems, np.zeros((4, 2, rack.latency + 4096), np.float32)], 2)
    mixes, outs, i, k = [], [], 0, 0
    mixer = ConstantMix(gains)
    while i < n + rack.latency:
        b = sizes[k % len(sizes)]
        mix, st = rack.process(pad[:, :, i : i + b], np.zeros((2, b), np.float32), mixer)
        mixes.append(mix.copy())
        outs.append(st.copy())
        i, k = i + b, k + 1
    a, L = rack.stem_latency, rack.latency
    return np.concatenate(outs, 2)[:, :, a : a + n], np.concatenate(mixes, 1)[:, L : L + n]


def test_streaming_in_any_fixed_block_equals_offline(stems):
    spec = parse_chains(CHAINS, STEMS)
    gains = np.array([1.0, 0.8, 0.5, 1.0], np.float32)
    ref = FxRack(STEMS, spec, RATE, 2, 4096)
    assert ref.stem_latency == 480 and ref.latency == 480  # the slowest stem chain: ZaMaximX2
    ref_stems, ref_mix = ref.render(stems, gains)
    assert np.abs(ref_mix).max() > 0.05
    for block in (64, 256, 1024):
        rack = FxRack(STEMS, spec, RATE, 2, block)
        got_stems, got_mix = _stream(rack, stems, [block], gains)
        np.testing.assert_array_equal(got_stems, ref_stems, err_msg=f"block {block}")
        np.testing.assert_array_equal(got_mix, ref_mix, err_msg=f"block {block}")
        assert not rack.events


def test_varying_blocks_are_cut_into_fixed_ones(stems):
    """The live worker's blocks vary when it resamples: re-blocking keeps the same sound."""
    spec = parse_chains(CHAINS, STEMS)
    gains = np.ones(4, np.float32)
    _ref_stems, ref_mix = FxRack(STEMS, spec, RATE, 2, 256).render(stems, gains)
    rack = FxRack(STEMS, spec, RATE, 2, 256, reblock=True)
    assert rack.latency == 480 + 255
    got_stems, got_mix = _stream(rack, stems, [235, 300, 17, 256, 320], gains)
    np.testing.assert_array_equal(got_mix, ref_mix)


def test_a_latent_plugin_keeps_block_sizes_and_delays_exactly():
    slot = Slot(SlotSpec(MAXIM, {"threshold_db": 0.0}), RATE, 2, 256)
    assert slot.latency == 480
    x = np.zeros((2, 4096), np.float32)
    x[:, 1000] = 0.5
    y = np.concatenate([slot.process(x[:, i : i + 256]).copy() for i in range(0, 4096, 256)], 1)
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y[0]))) == 1000 + 480


def test_bypass_keeps_the_latency_and_a_failing_plugin_is_bypassed_with_an_event():
    spec = parse_chains({"vocals": [{"plugin": MAXIM}, {"plugin": EQ}]}, STEMS)
    rack = FxRack(STEMS, spec, RATE, 2, 256)
    x = np.zeros((4, 2, 256), np.float32)
    x[0, :, 10] = 0.5
    # A real plug-in's real error: the mono-only EQ handed stereo.
    rack.slot("vocals", 1)._mono = False
    rack.set_bypass("vocals", 0, True)
    mixer = ConstantMix(np.ones(4))
    outs = [rack.process(x if i == 0 else 0 * x, x[0], mixer)[0].copy() for i in range(4)]
    y = np.concatenate(outs, 1)
    assert int(np.argmax(np.abs(y[0]))) == 10 + 480  # bypassed: still 480 late, EQ failed: dry
    events = list(rack.events)
    assert len(events) == 1 and "vocals slot 2 (ZamEQ2) failed and is bypassed" in events[0].message


def test_parameter_writes_are_queued_and_coalesced():
    rack = FxRack(STEMS, parse_chains({"bass": [{"plugin": "Gain"}]}, STEMS), RATE, 2, 256)
    before = rack.slot("bass", 0).params["gain_db"]
    for db in range(-20, -5):
        rack.set_param("bass", 0, "gain_db", float(db))
    assert rack.slot("bass", 0).params["gain_db"] == before  # nothing written before the worker
    x = np.ones((4, 2, 256), np.float32)
    mix, _ = rack.process(x, x[0], ConstantMix(np.array([0, 1, 0, 0])))
    assert rack.slot("bass", 0).params["gain_db"] == -6.0
    assert mix[0, -1] == pytest.approx(10 ** (-6 / 20), rel=1e-4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "chain.json: not JSON"),
        ('{"bass": [{"plugin": "Flanger"}]}', "chain.json: bass slot 1: unknown plugin 'Flanger'"),
        (
            '{"bass": [{"plugin": "Gain"}, {"plugin": "Reverb", "wet": 1}]}',
            "chain.json: bass slot 2 \\(Reverb\\): unknown parameter 'wet'; its parameters: "
            "wet_level",
        ),
        (
            '{"master": [{"plugin": "Gain", "gain_db": 99}]}',
            "master slot 1 \\(Gain\\): gain_db = 99 is outside -60..24 dB",
        ),
        ('{"master": [{"plugin": "Gain", "gain_db": "loud"}]}', "gain_db must be a number"),
        ('{"guitar": []}', "unknown target 'guitar'; use one of vocals, bass"),
        ('{"bass": [{"plugin": "/usr/lib/vst3/ZamVerb.vst3"}]}', "deny-list"),
        ('{"bass": [{"plugin": "/nowhere/X.vst3"}]}', "no VST3 bundle at '/nowhere/X.vst3'"),
    ],
)
def test_bad_chain_files_are_clear_errors(tmp_path, data, message):
    path = tmp_path / "chain.json"
    path.write_text(data)
    with pytest.raises(StemliveError, match=message):
        load_chains(path, STEMS)


def test_the_catalogue_lists_builtins_and_vst3s_with_their_parameters():
    plugins = {p.label: p for p in list_plugins()}
    assert plugins["Reverb"].main_param == "wet_level"
    comp = plugins["ZamCompX2"]
    assert comp.kind == "vst3" and comp.param("threshold_db").unit == "dB"
    assert comp.param("buffer_size_frames") is None and comp.param("gain_reduction_db") is None
    assert "ZamVerb" not in plugins and plugins["ZamDelay"].block_size_dependent


# -- key shift --------------------------------------------------------------------------------
def _f0(y: np.ndarray, rate: int, lo: float = 30, hi: float = 120) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    f = np.fft.rfftfreq(8 * len(y), 1 / rate)
    band = (f > lo) & (f < hi)
    return float(f[band][np.argmax(spec[band])])


def _saw(f: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.4 * (2 * ((f * t) % 1) - 1)] * 2).astype(np.float32)


def _shift(shifter: KeyShifter, x: np.ndarray, block: int = 256) -> np.ndarray:
    return np.concatenate(
        [shifter.process(x[:, i : i + block]).copy() for i in range(0, x.shape[1], block)], 1
    )


def test_key_shift_streams_exact_pitch_at_a_fixed_latency():
    x = _saw(55.0, 3.0)
    shifter = KeyShifter(RATE, 2, 256, semitones=3)
    y = _shift(shifter, x)
    assert y.shape == x.shape and shifter.underruns == 0
    assert abs(_f0(y[0, RATE:], RATE) - 55.0 * 2 ** (3 / 12)) < 0.5
    assert not np.any(y[:, : shifter.latency - 1024])  # silence primes the FIFO
    shifter.semitones = -5  # mid-stream
    z = _shift(shifter, x)
    assert abs(_f0(z[0, RATE:], RATE) - 55.0 * 2 ** (-5 / 12)) < 0.5
    assert shifter.underruns == 0


# -- stemlive separate --fx / --key ---------------------------------------------------------
def _write(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    sf.write(path, x.T, rate, subtype="FLOAT")
    return path


def test_separate_with_gain_minus_6_on_bass(tmp_path, tiny_weights):
    rng = np.random.default_rng(3)
    src = _write(tmp_path / "song.wav", (0.2 * rng.standard_normal((2, RATE))).astype(np.float32))
    chain = tmp_path / "bass.json"
    chain.write_text(json.dumps({"bass": [{"plugin": "Gain", "gain_db": -6}]}))
    args = ["separate", str(src), "--model", str(tiny_weights), "--mix", "vocals=1", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "plain")]) == 0
    assert main([*args, "-o", str(tmp_path / "fx"), "--fx", str(chain)]) == 0

    def read(folder: str, name: str) -> np.ndarray:
        return sf.read(tmp_path / folder / "song" / f"{name}.wav")[0]

    bass = read("plain", "bass")
    # The mix without the chain minus the mix with it is what left the bass part.
    left = read("plain", "mix") - read("fx", "mix")
    kept = bass - left
    db = 20 * np.log10(np.sqrt(np.mean(kept**2)) / np.sqrt(np.mean(bass**2)))
    assert abs(db + 6.0) <= 0.1, db
    np.testing.assert_allclose(read("fx", "vocals"), read("plain", "vocals"), atol=1e-6)


def test_separate_key_3_moves_a_55_hz_bass_to_65_4(tmp_path):
    src = _write(tmp_path / "saw.wav", _saw(55.0, 3.0))
    code = main(["separate", str(src), "-o", str(tmp_path), "--key", "3", "--mix", "vocals=1"])
    assert code == 0
    mix, rate = sf.read(tmp_path / "saw" / "mix.wav")
    assert abs(_f0(mix[rate:, 0], rate) - 65.4) <= 1.0


def test_separate_rejects_a_key_without_a_mix_and_a_bad_chain(tmp_path, tiny_weights, capsys):
    src = _write(tmp_path / "a.wav", np.zeros((2, 4410), np.float32))
    base = ["separate", str(src), "-o", str(tmp_path), "--model", str(tiny_weights)]
    assert main([*base, "--key", "3"]) == 2
    assert "--key changes the mix: give --mix too" in capsys.readouterr().err
    assert main([*base, "--key", "9", "--mix", "vocals=1"]) == 2
    assert "-6..6 semitones" in capsys.readouterr().err
    (tmp_path / "c.json").write_text('{"bass": [{"plugin": "Gain", "gain": 1}]}')
    assert main([*base, "--fx", str(tmp_path / "c.json")]) == 2
    assert "c.json: bass slot 1 (Gain): unknown parameter 'gain'" in capsys.readouterr().err


# -- stemlive fx list / play --fx --key --------------------------------------------------------
def test_fx_list_shows_builtins_and_vst3_parameters(capsys):
    assert main(["fx", "list"]) == 0
    out = capsys.readouterr().out
    assert "Reverb  [builtin]\n    wet_level: 0..1" in out
    assert "/usr/lib/vst3/ZamCompX2.vst3  [vst3]" in out and "threshold_db: -80..0 dB" in out
    assert "ZamVerb (takes minutes to load)" in out


def test_play_with_a_chain_and_a_key_streams_and_reports_the_latency(tmp_path, tiny_weights):
    from realtime.engine import Engine, StreamSettings
    from realtime.live_cli import _engine  # what play and live build the engine with

    src = _write(tmp_path / "a.wav", _saw(110.0, 1.0))
    chain = tmp_path / "c.json"
    chain.write_text(json.dumps({"vocals": [{"plugin": MAXIM}], "master": [{"plugin": "Gain"}]}))
    args = [str(src), "--output", "none", "--model", str(tiny_weights), "--quiet"]
    code = main(["play", *args, "--fx", str(chain), "--key", "2", "--seconds", "1"])
    assert code == 0
    ns = argparse.Namespace(
        gain=[],
        mute=[],
        solo=[],
        bypass=False,
        model=str(tiny_weights),
        arithmetic="int8",
        fx=chain,
        key=2,
        monitor_mix=None,
    )
    engine: Engine = _engine(ns)
    engine.open_file(src)
    engine.start(StreamSettings(sample_rate=RATE))
    try:
        st = engine.status()
    finally:
        engine.close()
    assert st.key == 2
    assert st.fx_latency_samples == 480 + engine.fx.key_latency
    assert st.latency_samples >= st.fx_latency_samples + 255
