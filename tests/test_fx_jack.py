"""Effect chains in the live engine on a JACK dummy server, in loopback.

A 480-sample-latency plug-in (ZaMaximX2) on the vocals: every other stem is
delayed to match, the reported latency grows by exactly that (plus the
re-blocking when the device's rate is not the model's), and a click through
the engine comes back after the reported number of samples, whole.
"""

from __future__ import annotations

import numpy as np
import pytest

from realtime.engine import Engine
from realtime.fx import parse_chains
from tests.separators import known_separator
from tests.test_engine_jack import _arrivals, _clicks, _run

pytestmark = [pytest.mark.jack, pytest.mark.slow]
MAXIM = "/usr/lib/vst3/ZaMaximX2.vst3"


@pytest.fixture(scope="module", params=[44100, 48000], ids=["44k1", "48k"])
def jack(request):
    from realtime.jack import dummy_server

    with dummy_server("stemlive-fxtest", rate=request.param, period=256) as server:
        yield server


def test_a_latent_plugin_on_one_stem_keeps_stems_aligned_and_latency_exact(jack, tmp_path):
    rate = jack.rate
    song = _clicks(tmp_path / "click.wav", rate, 2.5, [0.5, 1.5])
    sep = known_separator((0.25, 0.25, 0.25, 0.25))  # stems sum to the delayed input
    engine = Engine(sep)
    engine.set_chains(parse_chains({"vocals": [{"plugin": MAXIM}]}, sep.stems))
    engine.open_file(song)
    try:
        got = _run(engine, jack, 2.5, safety_ms=60.0)
        status = engine.status()
        events = engine.poll_events()
    finally:
        engine.close()
    reblock = 0 if rate == sep.sample_rate else round(256 * sep.sample_rate / rate) - 1
    assert status.fx_latency_samples == 480 + reblock
    peaks = [
        a + int(np.argmax(np.abs(got[0, a : a + 64]))) for a in _arrivals(got[0], 0.3, rate // 4)
    ]
    assert len(peaks) == 2, peaks
    tolerance = 0 if rate == sep.sample_rate else 1  # resampled: a fraction of a sample
    for p, s in zip(peaks, [int(0.5 * rate), int(1.5 * rate)], strict=True):
        assert abs(p - s - status.latency_samples) <= tolerance, (p - s, status.latency_samples)
        # Aligned stems add up to one click; a stem 480 samples off would leave a quarter
        # of it there (10 % of the energy).
        near = np.sum(got[0, p - 16 : p + 16] ** 2)
        assert near / np.sum(got[0, p - 1500 : p + 1500] ** 2) > 0.97
    assert status.misses == 0 and status.callback_errors == 0
    assert not [e for e in events if e.kind == "error"], events
