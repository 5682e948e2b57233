"""The live resampler: streaming == one call, a fixed delay as stated, no audible aliasing.

Thresholds are what `stemlive resamplebench` measured (see README: speed and latency)
with a little room: worst alias/image landing in 0-20 kHz -101.4 dB (48 -> 44.1 kHz)
and -108.8 dB (44.1 -> 48 kHz), passband ripple 0.0002 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import StemliveError
from realtime.resample import Resampler
from realtime.resample_bench import _ours_once, measured_delay, sweep

PAIRS = [(48000, 44100), (44100, 48000), (96000, 44100), (22050, 44100), (44100, 47999)]


def _noise(n: int, channels: int = 2) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (channels, n)).astype(np.float32)


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
@pytest.mark.parametrize("block", [64, 256, 1021])
def test_streaming_in_blocks_equals_one_call(rate_in, rate_out, block):
    x = _noise(rate_in // 4)
    whole = Resampler(rate_in, rate_out, max_block=x.shape[1])(x)
    rs = Resampler(rate_in, rate_out, max_block=block)
    parts, fed = [], 0
    for i in range(0, x.shape[1], block):
        expect = rs.output_count(min(block, x.shape[1] - i))
        parts.append(rs(x[:, i : i + block]))
        fed += min(block, x.shape[1] - i)
        assert parts[-1].shape[1] == expect
        # Exactly as many outputs as the ratio dictates, no burst, no shortfall.
        assert sum(p.shape[1] for p in parts) == -(-fed * rate_out // rate_in)
    streamed = np.concatenate(parts, 1)
    assert streamed.dtype == np.float32
    np.testing.assert_array_equal(streamed, whole)


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
def test_a_1khz_sine_comes_through_at_its_level_after_the_stated_delay(rate_in, rate_out):
    rs = Resampler(rate_in, rate_out)
    stated = rs.delay_out_samples
    assert stated == pytest.approx(rs.delay_seconds * rate_out)
    if min(rate_in, rate_out) >= 44100:
        assert rs.delay_seconds < 0.001  # ~0.8 ms; below 40 kHz it must stop at Nyquist
    delay, gain = measured_delay(_ours_once(rate_in, rate_out), rate_in, rate_out, near=stated)
    assert abs(delay - stated) < 1e-3, (delay, stated)
    assert abs(20 * np.log10(gain)) < 0.001
    # The right frequency: what is left after taking out a 1 kHz sine of that delay is noise.
    y = _ours_once(rate_in, rate_out)(np.sin(2 * np.pi * 1000 * np.arange(rate_in) / rate_in)[None])
    k = np.arange(rate_out // 4, 3 * rate_out // 4)
    residual = y[0, k] - gain * np.sin(2 * np.pi * 1000 * (k - delay) / rate_out)
    assert np.sqrt(np.mean(residual**2)) < 1e-5


def test_an_impulse_comes_out_after_the_stated_delay_to_the_sample():
    rs = Resampler(44100, 48000)  # delay 35 input samples = 38.1 output samples
    x = np.zeros((2, 4410), np.float32)
    x[:, 441] = 1.0
    y = rs(x)
    peak = int(np.argmax(y[0]))
    assert peak == round((441 + rs.delay) * 48000 / 44100)


@pytest.mark.parametrize(
    ("rate_in", "rate_out", "alias_db"), [(48000, 44100, -100.0), (44100, 48000, -105.0)]
)
def test_images_and_aliases_landing_below_20khz_are_below_the_measured_level(
    rate_in, rate_out, alias_db
):
    purity = sweep(_ours_once(rate_in, rate_out), rate_in, rate_out, step_hz=250.0)
    assert purity.alias_db < alias_db, purity
    assert purity.alias_at_hz <= 20000.0
    assert purity.ripple_db < 0.001, purity


def test_identity_when_the_rates_agree_and_reset_forgets():
    x = _noise(300)
    same = Resampler(44100, 44100)
    assert same.identity and same.delay == 0 and same(x) is x
    rs = Resampler(48000, 44100)
    first = rs(x)
    rs(_noise(500))
    rs.reset()
    np.testing.assert_array_equal(rs(x), first)


def test_bad_input_is_a_clear_error():
    with pytest.raises(StemliveError, match="whole Hz"):
        Resampler(44100.5, 48000)
    rs = Resampler(48000, 44100, channels=2, max_block=256)
    with pytest.raises(StemliveError, match="2 channels and at most 256"):
        rs(_noise(300))
    with pytest.raises(StemliveError, match="2 channels"):
        rs(_noise(100, channels=1))
