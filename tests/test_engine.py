"""The live engine's parts and the engine on its virtual clock (no audio device).

The same engine against a real clocked JACK server: test_engine_jack.py.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import AudioFileError, StemliveError
from model.separator import Separator
from realtime.engine import Engine, StreamSettings
from realtime.mixer import Mixer
from realtime.player import FilePlayer
from realtime.ring import DelayLine, RingBuffer
from tests.separators import known_separator

RATE = 44100
STEMS = ("vocals", "bass", "drums", "other")


# -- ring buffer ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 64),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=60),
)
def test_ring_buffer_is_a_fifo_that_counts_what_it_drops(capacity, ops):
    ring = RingBuffer(2, capacity)
    model: list[float] = []  # what a perfect FIFO of this capacity holds
    counter = 0.0
    dropped = short = 0
    for is_write, n in ops:
        if is_write:
            block = np.arange(counter, counter + n, dtype=np.float32)
            counter += n
            fits = min(n, capacity - len(model))
            model.extend(block[:fits].tolist())
            dropped += n - fits
            assert ring.write(np.stack([block, -block])) == fits
        else:
            out = np.full((2, n), np.nan, np.float32)
            got = ring.read_into(out)
            want, model = model[:n], model[n:]
            short += n - len(want)
            assert got == len(want)
            assert out[0, :got].tolist() == want and out[1, :got].tolist() == [-v for v in want]
            assert np.isnan(out[:, got:]).all()  # untouched past what was read
        assert ring.available() == len(model) and ring.space() == capacity - len(model)
    assert ring.overflows == dropped and ring.underflows == short


def test_ring_buffer_zeros_and_skip_wrap_around():
    ring = RingBuffer(1, 5)
    ring.write(np.ones((1, 4), np.float32))
    assert ring.skip(3) == 3
    assert ring.write_zeros(6) == 4 and ring.overflows == 2  # wraps, then is full
    out = np.empty((1, 5), np.float32)
    assert ring.read_into(out) == 5
    assert out.tolist() == [[1, 0, 0, 0, 0]]


@settings(max_examples=50, deadline=None)
@given(delay=st.integers(0, 50), sizes=st.lists(st.integers(1, 16), min_size=1, max_size=30))
def test_delay_line_delays_exactly(delay, sizes):
    line = DelayLine(1, delay, 16)
    x = np.arange(1, sum(sizes) + 1, dtype=np.float32)[None]
    out, pos = [], 0
    for n in sizes:
        o = np.empty((1, n), np.float32)
        line.process(x[:, pos : pos + n], o)
        out.append(o)
        pos += n
    y = np.concatenate(out, 1)[0]
    expect = np.concatenate([np.zeros(delay), x[0]])[: len(y)]
    assert np.array_equal(y, expect)


# -- mixer ---------------------------------------------------------------------------------
def _stems_and_dry(n: int) -> tuple[np.ndarray, np.ndarray]:
    stems = np.stack([np.full((2, n), v, np.float32) for v in (1.0, 10.0, 100.0, 1000.0)])
    return stems, np.full((2, n), 0.5, np.float32)


def test_mixer_mute_solo_bypass_reach_their_targets():
    mixer = Mixer(STEMS, ramp=64)
    stems, dry = _stems_and_dry(256)
    assert mixer.process(stems, dry)[0, -1] == pytest.approx(1111.0)
    mixer.set_mute("bass", True)
    assert mixer.process(stems, dry)[0, -1] == pytest.approx(1101.0)
    mixer.set_solo("drums", True)
    assert mixer.audible() == {"vocals": False, "bass": False, "drums": True, "other": False}
    assert mixer.process(stems, dry)[0, -1] == pytest.approx(100.0)
    mixer.set_solo("drums", False)
    mixer.set_gain_db("other", -math.inf)
    mixer.set_gain_db("vocals", 20 * math.log10(3))
    assert mixer.process(stems, dry)[0, -1] == pytest.approx(103.0, rel=1e-5)
    mixer.set_bypass(True)
    mixer.set_master_db(-6.0)
    assert mixer.process(stems, dry)[0, -1] == pytest.approx(0.5 * 10 ** (-6 / 20))
    with pytest.raises(ValueError, match="unknown stem"):
        mixer.set_gain_db("piano", 0.0)
    with pytest.raises(ValueError, match="gain"):
        mixer.set_gain_db("bass", float("nan"))


def test_mixer_ramps_every_change_without_a_step():
    mixer = Mixer(STEMS, ramp=441)
    stems, dry = _stems_and_dry(100)
    first = mixer.process(stems, dry)
    mixer.set_mute("other", True)  # a 1000 -> 0 change: ramped over 441 samples
    out = np.concatenate([first] + [mixer.process(stems, dry) for _ in range(6)], 1)[0]
    steps = np.abs(np.diff(out))
    assert steps.max() <= 1000.0 / 441 * 1.01  # never more than one ramp step
    assert out[-1] == pytest.approx(111.0)
    # A change in the middle of a ramp starts from where the gain is, not from the target.
    mixer.set_mute("other", False)
    a = mixer.process(stems, dry)
    mixer.set_mute("other", True)
    b = mixer.process(stems, dry)
    assert abs(b[0, 0] - a[0, -1]) <= 1000.0 / 441 * 1.01


# -- file player ---------------------------------------------------------------------------
def test_player_decodes_resamples_seeks_and_loops(tmp_path):
    path = tmp_path / "ramp.wav"
    x = np.linspace(-0.5, 0.5, 22050, dtype=np.float32)
    sf.write(path, x, 22050)  # mono at another rate
    player = FilePlayer(path, RATE, 2)
    assert player.wait_decoded()
    assert player.duration_s == pytest.approx(1.0, abs=1e-3)
    out = np.zeros((2, 1000), np.float32)
    player.fill(out, 1000)
    assert np.array_equal(out[0], out[1])  # mono copied to both channels
    player.seek(0.999)
    player.loop = True
    player.fill(out, 1000)  # runs past the end and wraps to the start
    assert player.pos < 1000 and not player.ended
    player.loop = False
    player.seek(0.99)
    player.fill(out, 1000)
    assert player.ended and not out[:, -100:].any()


@pytest.mark.parametrize("content", [b"", b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(64)])
def test_player_refuses_empty_and_corrupt_files(tmp_path, content):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    with pytest.raises(AudioFileError, match="bad.wav"):
        FilePlayer(bad, RATE)


# -- the engine on its virtual clock --------------------------------------------------------
def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def song(tmp_path):
    t = np.arange(3 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    x[:: RATE // 2] = 0.9
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([x, 0.5 * x], 1), RATE)
    return path


def test_engine_headless_separates_in_real_time(song):
    engine = Engine(Separator.from_preset("tiny"))
    try:
        assert engine.open_file(song) == pytest.approx(3.0, abs=1e-3)
        engine.start(StreamSettings())
        assert _wait(lambda: engine.status().position_s > 1.0)
        st_ = engine.status()
        assert st_.running and not st_.has_output and st_.source == "file"
        safety = round(StreamSettings().safety_ms / 1000 * RATE)
        assert st_.latency_samples == engine.separator.latency_samples + 256 + safety
        assert st_.peak["input"] > 0.1 and st_.spectrogram_count > 10
        assert st_.spectrogram.shape[0] == 5 and st_.misses == 0
        engine.pause()
        held = engine.status().position_s
        time.sleep(0.2)
        assert engine.status().position_s == held
        engine.seek(2.9)
        engine.play()
        assert _wait(lambda: any(e.kind == "end-of-file" for e in engine.poll_events()))
        assert not engine.status().playing
    finally:
        engine.close()


def test_engine_recording_equals_offline_separation(song, tmp_path):
    sep = Separator.from_preset("tiny")
    engine = Engine(sep)
    engine.open_file(song)
    engine.record_to(tmp_path / "take")  # from the first block on
    try:
        engine.start(StreamSettings())
        assert _wait(lambda: not engine.status().playing, 15)
        time.sleep(0.3)  # the model's latency worth of output after the end
        paths = engine.stop_recording()
    finally:
        engine.close()
    assert sorted(p.name for p in paths) == sorted(["mix.wav", *(f"{s}.wav" for s in STEMS)])
    rec = {p.stem: sf.read(p, dtype="float32")[0].T for p in paths}
    data, _ = sf.read(song, dtype="float32")
    offline = Separator.from_preset("tiny").separate(data.T)
    # The recording is what was streamed: the stems delayed by the model's latency.
    L, n = sep.latency_samples, data.shape[0]
    for i, s in enumerate(STEMS):
        got = rec[s][:, L : L + n]
        assert got.shape[1] == n, s
        np.testing.assert_allclose(got, offline[i], atol=2e-5, err_msg=s)
    np.testing.assert_allclose(rec["mix"][:, L : L + n], offline.sum(0), atol=1e-4)


def test_engine_mutes_a_known_stem_exactly(song, tmp_path):
    values = (0.1, 0.2, 0.3, 0.4)
    engine = Engine(known_separator(values))
    engine.open_file(song)
    engine.set_loop(True)
    engine.mixer.set_mute("drums", True)  # before the start: no ramp from unmuted
    try:
        engine.start(StreamSettings())
        engine.record_to(tmp_path / "take", stems=True, mix=True)
        time.sleep(1.5)
        engine.stop_recording()
    finally:
        engine.close()
    mix = sf.read(tmp_path / "take" / "mix.wav", dtype="float32")[0].T
    drums = sf.read(tmp_path / "take" / "drums.wav", dtype="float32")[0].T
    other = sf.read(tmp_path / "take" / "other.wav", dtype="float32")[0].T
    # Stems are value * input: the mix without drums is (1 - 0.3)/0.4 times the other stem.
    assert np.abs(drums).max() > 0.05
    np.testing.assert_allclose(mix, other * (0.7 / 0.4), atol=1e-4)


def test_engine_survives_a_worker_stall_by_playing_dry(song):
    engine = Engine(Separator.from_preset("tiny"))
    engine.open_file(song)
    engine.set_loop(True)
    try:
        engine.start(StreamSettings(safety_ms=10))
        time.sleep(0.5)
        target = engine.status().latency_samples
        engine.stall_worker(0.3)
        assert _wait(lambda: engine.status().misses >= 1, 3)
        assert _wait(lambda: engine.status().out_fill >= 256, 3)  # caught up
        time.sleep(0.3)
        st_ = engine.status()
        assert st_.latency_samples == target and st_.callback_errors == 0
        assert st_.hard_misses == 0  # the fade to dry had wet samples to fade from
    finally:
        engine.close()


def test_engine_errors_are_clear_and_lose_nothing(song, tmp_path):
    engine = Engine(Separator.from_preset("tiny"))
    try:
        engine.start(StreamSettings())
        engine.open_file(song)
        bad = tmp_path / "broken.wav"
        bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(100))
        with pytest.raises(AudioFileError, match="broken.wav"):
            engine.open_file(bad)
        pos = engine.status().position_s
        assert _wait(lambda: engine.status().position_s > pos + 0.2)  # the song plays on
        with pytest.raises(StemliveError, match="block size"):
            StreamSettings(block_size=3)
        with pytest.raises(ValueError, match="unknown stem"):
            engine.mixer.set_mute("kazoo", True)
    finally:
        engine.close()
    assert not engine.running


def test_worker_path_keeps_the_stated_latency_at_48khz_across_a_resync():
    """The worker's own steps, driven by hand (no threads): a click fed at input frame n
    comes out of the out ring at stream frame n + D, before and after a resync."""
    engine = Engine(known_separator((0.25, 0.25, 0.25, 0.25)))  # the mix is the input, delayed
    B, rate = 256, 48000
    engine._prepare(rate, StreamSettings(sample_rate=rate, block_size=B, safety_ms=20))
    D = engine._engine_latency
    parts = engine.latency_parts
    assert round(sum(parts.values())) == D  # no device here: the engine's parts are all
    assert 0 < parts["resample in"] + parts["resample out"] < 0.002 * rate
    x = np.zeros((2, 200 * B), np.float32)
    clicks = [30 * B + 17, 150 * B + 101]
    x[:, clicks] = 0.5
    block = np.zeros((2, B), np.float32)
    out = []

    def run(blocks: range) -> None:
        for i in blocks:
            engine._in_ring.write(x[:, i * B : (i + 1) * B])
            engine._in_ring.read_into(block)
            engine._process(block)
            out.append(engine._out_ring.read(engine._out_ring.available()))

    run(range(101))  # the resamplers have now given one sample ahead (they round up)
    assert engine._made - engine._fed == 1
    engine._in_ring.write(x[:, 101 * B : 110 * B])
    engine._resync(9 * B)  # drops nine blocks, restarts the model and the resamplers
    out.append(engine._out_ring.read(engine._out_ring.available()))
    run(range(110, 200))
    y = np.concatenate(out, 1)[0]
    for c in clicks:
        assert int(np.argmax(np.abs(y[c + D - 64 : c + D + 64]))) - 64 == 0, c
