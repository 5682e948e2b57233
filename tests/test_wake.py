"""The callback's wake-up of the worker: never lost, coalesced, and what the worker waits on."""

import threading
import time

import numpy as np
import pytest
import soundfile as sf

from model.separator import Separator
from realtime.engine import Engine, StreamSettings
from realtime.wake import Wake

RATE = 44100


def test_a_wake_given_before_the_wait_is_not_lost_and_several_make_one():
    w = Wake()
    assert not w.wait(0.01)  # nothing given: the timeout
    for _ in range(5):
        w.give()
    assert w.wait(10.0)  # given before the wait: returns at once
    assert not w.wait(0.01)  # the five were one wake


def test_a_wake_from_another_thread_ends_the_wait():
    w = Wake()
    woke = []
    t = threading.Thread(target=lambda: woke.append(w.wait(30.0)))
    t.start()
    time.sleep(0.05)
    w.give()
    t.join(timeout=5)
    assert woke == [True]


class CountingWake(Wake):
    def __init__(self) -> None:
        super().__init__()
        self.woken = self.timeouts = 0

    def wait(self, timeout: float) -> bool:
        got = super().wait(timeout)
        if got:
            self.woken += 1
        else:
            self.timeouts += 1
        return got


@pytest.fixture
def song(tmp_path):
    t = np.arange(3 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([x, x], 1), RATE)
    return path


def test_the_worker_sleeps_until_the_callback_wakes_it(song):
    engine = Engine(Separator.from_preset("tiny"))
    wake = engine._wake = CountingWake()
    try:
        engine.open_file(song)
        engine.start(StreamSettings())
        deadline = time.monotonic() + 10
        while engine.status().position_s < 1.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        st = engine.status()
    finally:
        engine.close()
    assert st.position_s >= 1.5 and st.misses == 0
    # One wait per period (5.8 ms here), ended by the callback's wake, not by its timeout
    # (two periods): the worker no longer polls.
    periods = 1.5 * RATE / 256
    assert wake.woken >= 0.8 * periods, (wake.woken, wake.timeouts, periods)
    assert wake.timeouts <= 0.1 * wake.woken, (wake.woken, wake.timeouts)
