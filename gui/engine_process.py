"""The engine in a process of its own, behind the same ``EngineApi`` as the in-process adapter.

The window's interpreter then never holds the lock the audio callback and
the worker need, and a crashing plug-in takes down only the engine process.
``EngineProcess`` starts a child (``gui/engine_child.py``, reached through
``gui/engine_link.py``) and:

- sends parameter calls (faders, mute, transport, effect parameters) through a
  sender thread that coalesces them: a burst of moves of one fader reaches the
  engine as its latest value;
- sends blocking calls (start, open, record...) and waits for the reply;
- keeps a mirror of the mixer, effects, key, source and recording, so getters
  answer locally and a new process can be given the same state;
- reads ``snapshot()`` from shared memory the child writes (``engine_shm``).

When the child dies (kill -9, a segfault) the pipe's other end closes: the
window gets an ``engine-lost`` event at once, and a warm spare process (model
loaded and run once, no device open) takes over with the same settings, file,
position, mixer, effects, key and recording (into a new take), then
``engine-restarted``. Without a spare a fresh process is started (slower: the
model's first run). More than ``max_restarts`` crashes in ``RESTART_WINDOW_S``
and it stops trying (a plug-in that crashes at once would loop forever).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

from gui.engine_api import DeviceChoice, EngineEvent, EngineSettings, GuiSnapshot, model_for
from gui.engine_link import CALL_TIMEOUT_S, HANG_S, EngineGone, EngineLink, context
from model.errors import StemliveError
from realtime.fx import ChainSpec, with_slot
from realtime.mixer import Mixer

IN_PROCESS_ENV = "STEMLIVE_IN_PROCESS"  # "1": the engine in the window's process (debugging)
MAX_RESTARTS = 3
RESTART_WINDOW_S = 60.0
SEND_GAP_S = 0.002  # parameter batches at most this often: what comes between coalesces


class EngineProcess:
    """``gui.engine_api.EngineApi`` with the engine in a child process (see the module doc).

    ``preset`` runs an untrained model preset instead of the settings' weights
    (tests); ``spare`` keeps a warm process ready to take over after a crash;
    ``max_restarts`` crashes a minute are restarted (the fault command allows more).
    """

    def __init__(
        self,
        settings: EngineSettings,
        preset: str | None = None,
        spare: bool = True,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.max_restarts = max_restarts
        self._ctx = context()
        self._preset = preset
        self._use_spare = spare
        self._settings = settings  # what the next start uses (and a spare is warmed for)
        self._life = threading.RLock()  # blocking calls and restarts, one at a time
        self._plock = threading.Lock()  # the mirror, pending parameters and their sending
        self._pending: collections.OrderedDict = collections.OrderedDict()
        self._wake = threading.Event()
        self._events: collections.deque[EngineEvent] = collections.deque(maxlen=200)
        self._closing = False
        self._spare: EngineLink | None = None
        self._spare_thread: threading.Thread | None = None
        self._crashes: list[float] = []
        self._gave_up = False  # too many crashes: the next blocking call starts a fresh one
        self._dead: EngineLink | None = None  # the last crashed child, its block still readable
        self.restart_seconds: list[float] = []  # death to restored, per restart
        self.params_sent = 0  # parameter calls that reached the engine (after coalescing)
        self.params_asked = 0  # parameter calls the window made
        self._child = self._spawn(settings)
        self._child.attach()
        info = self._child.info
        self._stems = tuple(info["stems"])
        self._model_name = info["model_name"]
        self._model_trained = info["model_trained"]
        # The mirror: what a new engine process must be told to sound the same.
        self._mixer = Mixer(self._stems, ramp=1)
        self._monitor = Mixer(self._stems, ramp=1)
        self._fx: ChainSpec = {}
        self._key = 0
        self._loop = False
        self._started = False
        self._source: tuple | None = None  # ("file", path) or ("input",)
        self._recording: tuple | None = None  # (folder, stems, mix); the take in .take
        self.take: Path | None = None  # the recording's folder, while recording
        self.take_started = 0.0  # when that take began (time.monotonic())
        self._last = GuiSnapshot()
        threading.Thread(target=self._send_params, name="stemlive-params", daemon=True).start()

    # -- processes ------------------------------------------------------------------------
    def _spawn(self, settings: EngineSettings) -> EngineLink:
        child = EngineLink(self._ctx, settings, self._preset, self._on_death)
        child.on_events = self._on_events
        return child

    @property
    def pid(self) -> int:
        """The engine process's id (fault tests kill it)."""
        return self._child.pid

    @property
    def spare_ready(self) -> bool:
        """A warm process is waiting to take over after a crash."""
        spare = self._spare
        return spare is not None and not spare.dead

    def _on_events(self, events: list) -> None:
        self._events.extend(EngineEvent(k, m) for k, m in events)

    def _on_death(self, child: EngineLink) -> None:
        if self._closing:
            return
        if child is self._spare:
            self._spare = None
            return
        if child is not self._child:
            return
        code = child.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        if child.hung:
            how = f"it stopped answering for {HANG_S:g} s and was killed"
        self._events.append(
            EngineEvent("engine-lost", f"The audio engine process stopped ({how}); restarting it")
        )
        threading.Thread(
            target=self._recover, args=(child,), name="stemlive-recover", daemon=True
        ).start()

    def _recover(self, dead: EngineLink) -> None:
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < RESTART_WINDOW_S] + [now]
        if len(self._crashes) > self.max_restarts:
            self._gave_up = True
            self._events.append(
                EngineEvent(
                    "error",
                    f"The audio engine crashed {len(self._crashes)} times in "
                    f"{RESTART_WINDOW_S:.0f} s; it was not restarted. Check the effect "
                    "plug-ins, then apply the settings again to start it.",
                )
            )
            return
        last = dead.block.read() if dead.block is not None else GuiSnapshot()
        old_take = self.take
        with self._life:
            if self._closing or dead is not self._child:
                return
            try:
                child = self._take_spare() or self._spawn(self._settings)
                if child.block is None:
                    child.attach()
                self._child = child
                if self._dead is not None:  # the one before: nobody reads its block now
                    self._dead.close(timeout=0)
                self._dead = dead
                self._restore(child, last)
            except StemliveError as exc:
                self._events.append(
                    EngineEvent("error", f"The audio engine could not be restarted: {exc}")
                )
                return
        took = time.monotonic() - dead.died_at
        self.restart_seconds.append(took)
        note = ""
        if old_take is not None:
            note = f" The recording up to the crash is in {old_take}"
            note += f"; it goes on in {self.take}." if self.take else "."
        self._events.append(
            EngineEvent("engine-restarted", f"The audio engine crashed and was restarted in "
                        f"{took:.1f} s with the same song, position, mix and effects.{note}")
        )  # fmt: skip
        self._prepare_spare()

    def _restore(self, child: EngineLink, last: GuiSnapshot) -> None:
        """Bring a fresh process to the mirror's state and the song to where it was."""
        if self._fx:
            child.call("set_chains", dict(self._fx))
        if self._key:
            child.call("set_key", self._key)
        with self._plock:
            child.send(("params", self._mirror_params()))
        if not self._started:
            return
        child.call("start", self._settings)
        if self._source and self._source[0] == "file":
            child.call("open_file", self._source[1])
            with self._plock:
                child.send(
                    (
                        "params",
                        [
                            ("set_loop", (self._loop,)),
                            ("seek", (last.position_s,)),
                            ("play" if last.playing else "pause", ()),
                        ],
                    )
                )
        elif self._source:
            child.call("use_input_device")
        if self._recording is not None:
            self.take = child.call("start_recording", *self._recording)
            self.take_started = time.monotonic()

    def _mirror_params(self) -> list[tuple[str, tuple]]:
        m, mon = self._mixer, self._monitor
        out: list[tuple[str, tuple]] = []
        for s in self._stems:
            out += [
                ("set_gain_db", (s, m.gain_db(s))),
                ("set_mute", (s, m.mute(s))),
                ("set_solo", (s, m.solo(s))),
                ("set_monitor_gain_db", (s, mon.gain_db(s))),
            ]
        out += [
            ("set_master_db", (m.master_db(),)),
            ("set_bypass", (m.bypass(),)),
            ("set_loop", (self._loop,)),
        ]
        return out

    def _take_spare(self) -> EngineLink | None:
        if self._spare_thread is not None:  # one warming up is ahead of a fresh start
            self._spare_thread.join(timeout=CALL_TIMEOUT_S)
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.dead or spare.model_key != model_for(self._settings):
            spare.close(timeout=0)
            return None
        return spare

    def _prepare_spare(self) -> None:
        """Start warming a spare process in the background (if none is ready)."""
        if not self._use_spare or self._closing:
            return
        if self._spare_thread is not None and self._spare_thread.is_alive():
            return
        settings = self._settings
        if self._spare is not None and self._spare.model_key == model_for(settings):
            return

        def warm() -> None:
            try:
                spare = self._spawn(settings)
                spare.call("warm_up", replace(settings, input_device=None, output_device=None))
            except StemliveError as exc:
                self._events.append(EngineEvent("info", f"no spare engine process: {exc}"))
                return
            old, self._spare = self._spare, spare
            if old is not None:
                old.close(timeout=0)
            if self._closing:
                spare.close()

        self._spare_thread = threading.Thread(target=warm, name="stemlive-spare", daemon=True)
        self._spare_thread.start()

    def close(self) -> None:
        """Stop the engine processes (the engine closes its recording first)."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        with self._life:
            for child in (self._child, self._spare, self._dead):
                if child is not None:
                    child.close()
            self._spare = None

    # -- blocking calls -------------------------------------------------------------------
    def _call(self, method: str, *args):
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while True:
            with self._life:
                child = self._child
                if not child.dead:
                    return child.call(method, *args)
                if self._gave_up:  # asked again after giving up: one more fresh process
                    self._gave_up, self._crashes = False, []
                    child = self._spawn(self._settings)
                    child.attach()
                    if self._dead is not None:
                        self._dead.close(timeout=0)
                    self._dead, self._child = self._child, child
                    self._restore(child, self._last)
                    continue
            if time.monotonic() > deadline:  # the restart is under way: wait for it
                raise EngineGone(f"the audio engine was not back in time for {method}")
            time.sleep(0.02)

    @property
    def stems(self) -> tuple[str, ...]:
        return self._stems

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def model_trained(self) -> bool:
        return self._model_trained

    def start(self, settings: EngineSettings) -> None:
        self._settings = settings
        info = self._call("start", settings)
        self._started = True
        self._model_name, self._model_trained = info["model_name"], info["model_trained"]
        self._prepare_spare()

    def stop(self) -> None:
        self._started = False
        if not self._closing:
            self._call("stop")

    def open_file(self, path: Path) -> float:
        duration = self._call("open_file", Path(path))
        self._source = ("file", Path(path))
        return duration

    def use_input_device(self) -> None:
        self._call("use_input_device")
        self._source = ("input",)

    def start_recording(self, folder: Path, stems: bool = True, mix: bool = True) -> Path:
        take = self._call("start_recording", Path(folder), stems, mix)
        self._recording, self.take = (Path(folder), stems, mix), take
        self.take_started = time.monotonic()
        return take

    def stop_recording(self) -> None:
        self._recording = self.take = None
        if not self._closing:
            self._call("stop_recording")

    def devices(self) -> list[DeviceChoice]:
        return self._child.call("devices", timeout=30.0)

    def set_chains(self, spec: dict) -> None:
        self._call("set_chains", dict(spec))
        with self._plock:
            self._fx = {k: tuple(v) for k, v in spec.items()}

    def set_key(self, semitones: int) -> None:
        self._call("set_key", semitones)
        self._key = semitones

    def preload_fx(self, spec: dict) -> None:
        """Nothing here: the engine process loads plug-ins (on its main thread)."""

    def engine_state(self) -> dict:
        """What the engine process holds (tests compare it with what was set)."""
        return self._child.call("state", timeout=30.0)

    # -- parameters: mirrored, coalesced, sent by the sender thread ------------------------
    def _param(self, key: tuple, method: str, *args) -> None:
        self.params_asked += 1
        self._pending.pop(key, None)
        self._pending[key] = (method, args)
        self._wake.set()

    def _send_params(self) -> None:
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            with self._plock:
                batch = list(self._pending.values())
                self._pending.clear()
                if batch:
                    with contextlib.suppress(EngineGone):  # the restart sends the mirror
                        self._child.send(("params", batch))
                        self.params_sent += len(batch)
            time.sleep(SEND_GAP_S)

    def play(self) -> None:
        with self._plock:
            self._param(("playing",), "play")

    def pause(self) -> None:
        with self._plock:
            self._param(("playing",), "pause")

    def seek(self, seconds: float) -> None:
        with self._plock:
            self._param(("seek",), "seek", float(seconds))

    def set_loop(self, on: bool) -> None:
        with self._plock:
            self._loop = bool(on)
            self._param(("loop",), "set_loop", bool(on))

    def set_gain_db(self, stem: str, db: float) -> None:
        with self._plock:
            self._mixer.set_gain_db(stem, min(db, Mixer.MAX_DB))
            self._param(("gain", stem), "set_gain_db", stem, float(db))

    def set_mute(self, stem: str, on: bool) -> None:
        with self._plock:
            self._mixer.set_mute(stem, on)
            self._param(("mute", stem), "set_mute", stem, bool(on))

    def set_solo(self, stem: str, on: bool) -> None:
        with self._plock:
            self._mixer.set_solo(stem, on)
            self._param(("solo", stem), "set_solo", stem, bool(on))

    def set_master_db(self, db: float) -> None:
        with self._plock:
            self._mixer.set_master_db(min(db, Mixer.MAX_DB))
            self._param(("master",), "set_master_db", float(db))

    def set_bypass(self, on: bool) -> None:
        with self._plock:
            self._mixer.set_bypass(on)
            self._param(("bypass",), "set_bypass", bool(on))

    def set_fx_param(self, target: str, index: int, name: str, value: float) -> None:
        with self._plock:
            self._fx = with_slot(self._fx, target, index, param=(name, value)) or self._fx
            self._param(("fxp", target, index, name), "set_fx_param", target, index, name, value)

    def set_fx_bypass(self, target: str, index: int, on: bool) -> None:
        with self._plock:
            self._fx = with_slot(self._fx, target, index, bypass=on) or self._fx
            self._param(("fxb", target, index), "set_fx_bypass", target, index, bool(on))

    def set_monitor_gain_db(self, stem: str, db: float) -> None:
        with self._plock:
            self._monitor.set_gain_db(stem, min(db, Mixer.MAX_DB))
            self._param(("monitor", stem), "set_monitor_gain_db", stem, float(db))

    # What the mixer holds, from the mirror (the window's tests read these back).
    def monitor_gain_db(self, stem: str) -> float:
        return self._monitor.gain_db(stem)

    def gain_db(self, stem: str) -> float:
        return self._mixer.gain_db(stem)

    def master_db(self) -> float:
        return self._mixer.master_db()

    def solo(self, stem: str) -> bool:
        return self._mixer.solo(stem)

    def mute(self, stem: str) -> bool:
        return self._mixer.mute(stem)

    def bypass(self) -> bool:
        return self._mixer.bypass()

    def audible(self) -> dict[str, bool]:
        return self._mixer.audible()

    # -- reading ---------------------------------------------------------------------------
    def snapshot(self) -> GuiSnapshot:
        child = self._child
        if child.dead or child.block is None:
            return replace(self._last, running=False, playing=False)
        self._last = child.block.read()
        return self._last

    def poll_events(self) -> list[EngineEvent]:
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out


def in_process_wanted() -> bool:
    """The engine in the window's own process (``STEMLIVE_IN_PROCESS=1``): for debugging."""
    return os.environ.get(IN_PROCESS_ENV, "") not in ("", "0")


def open_engine(settings: EngineSettings, in_process: bool = False):
    """The window's engine: a child process (default), or in this process."""
    if in_process or in_process_wanted():
        from gui.engine_adapter import create_engine

        return create_engine(settings)
    return EngineProcess(settings)
