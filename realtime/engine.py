"""The live engine: an audio callback that only copies, a worker thread that separates and mixes.

Signal path (``B`` = block size at the device's rate ``R``)::

    callback: source (input device or FilePlayer) -> in ring ------------------+
                                                  -> dry delay line (D)          |
    worker:   in ring -> [resample R->model] -> Separator -> Mixer (+ dry L)    |
              -> [resample model->R] -> out ring -> recorder, meters, spectrum  |
    callback: out ring (or the delayed dry, crossfaded, when the worker is late) -> output

The out ring starts with ``P = B + safety`` frames of silence, and the callback
always reads at the stream position, so the latency is fixed: ``D = P + W``
frames, ``W`` being the worker path's delay (the Separator's, the effects', and
the resamplers' fixed delays: ``realtime.resample``). When the worker misses a
deadline the callback crossfades to the dry signal delayed by the same ``D``,
counts a miss, keeps consuming the wet stream's positions (so nothing is
re-queued and latency cannot creep) and fades back once the worker has caught
up. The callback never raises, never blocks and never allocates beyond small
numpy temporaries.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from model.separator import Separator
from realtime import DEFAULT_SAFETY_MS, desktop, devices
from realtime.analysis import Analyser
from realtime.fx import ChainSpec, with_slot
from realtime.fxrack import FxRack
from realtime.keyshift import check_key
from realtime.memlock import lock_memory
from realtime.mixer import Mixer
from realtime.player import FilePlayer
from realtime.recorder import Recorder, new_take_folder
from realtime.resample import Resampler
from realtime.ring import DelayLine, RingBuffer
from realtime.split_stream import SplitStream
from realtime.wake import Wake

CHANNELS = 2
FADE_S = 0.001  # wet/dry crossfade when the worker is late, and back
RAMP_S = 0.010  # mixer parameter ramps
MAX_BACKLOG_S = 0.5  # a worker further behind than this drops input and restarts its state
DEVICE_TIMEOUT_S = 1.0  # no callback for this long while streaming: the device is gone
# ...or before the first callback: ALSA's pulse device (desktop audio) takes ~1.5 s to start.
START_TIMEOUT_S = 5.0
# A sound server's ALSA plugin can stall for seconds on a loaded machine (seen: ~2 s) and
# then carry on: through one, only a longer silence means the device is gone.
SERVER_TIMEOUT_S = 4.0
PULSE_SAFETY_MS = 60.0  # the least safety buffer through a sound server (see Engine.start)
RECONNECT_PROBE_S = 0.25  # how often a lost JACK server is looked for
SWITCH_INTERVAL_S = 0.0005
WORKER_RT_PRIORITY = 5  # below JACK's audio threads (10 and up); see _raise_priority
WORKER_NICE = -10
# The engine process's other threads (snapshot publisher, command runner, recorder...):
# real-time too, below the worker, so that none is preempted by the window while it
# holds the interpreter lock the worker and the callback wait for (see raise_threads).
ENGINE_RT_PRIORITY = 2
# The parts of the latency, in the order the CLI and the window list them (see Status).
LATENCY_PARTS = (
    "model",  # the Separator's STFT window less one sample
    "effects/key",  # effect chains, key shift, re-blocking for plug-ins
    "resample in",  # device rate -> model rate (realtime.resample: a fixed delay)
    "resample out",  # model rate -> device rate
    "block",  # the worker turns a block around while the device plays the one before
    "safety",  # time the worker may be late
    "device in",  # the device's (or server's) own buffers, as PortAudio reports them
    "device out",
)


@dataclass(frozen=True)
class StreamSettings:
    """How to stream. ``None`` devices: no input (a file is the source) / no output (silent)."""

    input_device: str | None = None
    output_device: str | None = None
    sample_rate: int | None = None  # None: the output (or input) device's default, else the model's
    block_size: int = 256
    safety_ms: float = DEFAULT_SAFETY_MS
    # Outputs besides the main mix, in this order after the main pair: each stem named here
    # (pre-fader), then the monitor mix (``Engine.monitor``'s faders) when ``monitor_mix``.
    stem_outputs: tuple[str, ...] = ()
    monitor_mix: bool = False

    def __post_init__(self) -> None:
        if not 16 <= self.block_size <= 4096:
            raise StemliveError(f"block size must be 16..4096 frames, not {self.block_size}")
        if not 0.0 <= self.safety_ms <= 500.0:
            raise StemliveError(f"safety buffer must be 0..500 ms, not {self.safety_ms}")
        if self.sample_rate is not None and not 8000 <= self.sample_rate <= 192000:
            raise StemliveError(f"sample rate must be 8000..192000 Hz, not {self.sample_rate}")
        if len(set(self.stem_outputs)) != len(self.stem_outputs):
            raise StemliveError(f"a stem is named twice in the stem outputs: {self.stem_outputs}")

    @property
    def output_pairs(self) -> tuple[str, ...]:
        """Names of the output channel pairs: "main", the stems, then "monitor"."""
        return ("main", *self.stem_outputs, *(("monitor",) if self.monitor_mix else ()))


@dataclass(frozen=True)
class Status:
    """One consistent-enough copy of the engine's counters and meters (see ``Engine.status``)."""

    running: bool = False
    has_output: bool = False
    sample_rate: int = 0
    block_size: int = 0
    latency_samples: int = 0  # source to output, including the device's own buffers
    engine_latency_samples: int = 0  # D: the engine's part
    latency_ms: float = 0.0
    # latency_samples part by part (LATENCY_PARTS), in device samples (model-rate parts
    # converted: fractions); the parts add up to latency_samples, rounded.
    latency_parts: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)  # "input", stems..., "master"
    rms: dict[str, float] = field(default_factory=dict)
    spectrogram: np.ndarray | None = None
    spectrogram_sources: tuple[str, ...] = ()
    spectrogram_count: int = 0
    spectrogram_freqs: np.ndarray | None = None
    column_seconds: float = 0.0
    worker_p50_ms: float = 0.0
    worker_p99_ms: float = 0.0
    worker_load: float = 0.0
    # the garbage collector since start (this process): its longest pause, its full passes
    gc_max_ms: float = 0.0
    gc_full: int = 0
    memory_locked: bool = False  # the engine's pages pinned in RAM (realtime/memlock.py)
    xruns: int = 0
    misses: int = 0
    hard_misses: int = 0
    resyncs: int = 0
    callback_errors: int = 0
    out_fill: int = 0
    fx_latency_samples: int = 0  # part of the latency: effect chains and key shift (model rate)
    key: int = 0
    position_s: float = 0.0
    duration_s: float = 0.0
    playing: bool = False
    looping: bool = False
    recording: bool = False
    reconnecting: bool = False  # the JACK server went away: streaming resumes when it is back
    source: str = "none"  # "file", "input" or "none"
    outputs: tuple[str, ...] = ()  # the output pairs ("main", stems..., "monitor")
    output_ports: tuple[str, ...] = ()  # where they go: JACK port names, or channel numbers


@dataclass(frozen=True)
class Event:
    kind: str  # "error", "device-lost", "reconnecting", "reconnected", "end-of-file", "info"
    message: str


class Engine:
    """Four stems live from a device or a file, remixed. See the module docstring."""

    def __init__(self, separator: Separator) -> None:
        self.separator = separator
        self.stems = separator.stems
        self.model_rate = separator.sample_rate
        self.mixer = Mixer(self.stems, ramp=int(RAMP_S * self.model_rate))
        # A second mix of the same stems with faders of its own (e.g. a singer's in-ear),
        # sent to its own output pair when StreamSettings.monitor_mix is on.
        self.monitor = Mixer(self.stems, ramp=int(RAMP_S * self.model_rate))
        self._events: collections.deque[Event] = collections.deque(maxlen=100)
        self._player: FilePlayer | None = None
        self._use_input = True
        self._memory_locked = False
        self._loop = False
        self._recorder: Recorder | None = None
        # Serialises start/stop/open/record (never the audio); reentrant for _reconnect.
        self._lock = threading.RLock()
        self._stream = None
        self._clock: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._settings = StreamSettings()
        self._stall_s = 0.0
        self._wake = Wake()  # the callback wakes the worker when a block has come in
        self._capture: RingBuffer | None = None
        self.fx_spec: ChainSpec = {}
        self.fx: FxRack | None = None
        self._key = 0
        self._key_armed = False
        self._stem_rows: list[int] = []
        self._with_monitor = False
        self._via_pulse = False
        self._on_jack = False
        self._reconnect_token: object | None = None  # the live reconnection's, while one runs
        self._resuming = False
        self._reset_counters()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, settings: StreamSettings | None = None) -> None:
        """(Re)start streaming; raises StemliveError (device missing or busy, bad rate...)."""
        with self._lock:
            self._stop_locked()
            self._settings = settings = settings or self._settings
            unknown = [s for s in settings.stem_outputs if s not in self.stems]
            if unknown:
                raise StemliveError(
                    f"no stem {', '.join(unknown)} to output; stems are {', '.join(self.stems)}"
                )
            sd = None
            in_dev = out_dev = None
            in_spec, out_spec = settings.input_device, settings.output_device
            source = sink = None  # desktop audio: the monitor captured, the sink played into
            if desktop.is_desktop(in_spec):
                source = desktop.resolve_source(in_spec)
                in_spec = desktop.PORTAUDIO_DEVICE
            if desktop.is_pulse_sink(out_spec):
                sink, out_spec = out_spec.partition(":")[2], desktop.PORTAUDIO_DEVICE
            if in_spec is not None or out_spec is not None:
                devices.rescan()
                sd = devices._sd()
                if in_spec is not None:
                    in_dev = devices.find_device(in_spec, "input")
                if out_spec is not None:
                    out_dev = devices.find_device(out_spec, "output")
            if source is not None:
                played_into = desktop.output_sink(
                    settings.output_device, out_dev.name if out_dev else None
                )
                desktop.check_no_feedback(source, played_into)
            # ALSA's pulse plugin (and "default", which is pulse under a sound server) at
            # PortAudio's low latency stalled for 2 s whenever another app started playing
            # into the captured sink (measured); at "high" (35-40 ms) it had no gap, but its
            # callbacks come in bursts that a 20 ms safety buffer did not always cover.
            self._via_pulse = any(
                d is not None and d.hostapi == "ALSA" and d.name in ("pulse", "default")
                for d in (in_dev, out_dev)
            )
            self._on_jack = any(
                d is not None and d.hostapi.startswith("JACK") for d in (in_dev, out_dev)
            )
            rate = settings.sample_rate or int(
                (out_dev or in_dev).default_rate if (out_dev or in_dev) else self.model_rate
            )
            self._prepare(rate, settings)
            _freeze_heap()
            self._memory_locked = lock_memory()
            if sd is None:
                self._stream = None
                self._clock = threading.Thread(
                    target=self._virtual_clock, name="stemlive-clock", daemon=True
                )
            else:
                with desktop.pulse_env(source.monitor if source else None, sink):
                    self._stream = self._open_stream(sd, in_dev, out_dev, rate, settings)
            self._stop_worker = False
            self._worker = threading.Thread(target=self._work, name="stemlive-worker", daemon=True)
            self._old_switch = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._running = True
            self._last_callback = time.monotonic()
            self._worker.start()
            if self._stream is not None:
                self._stream.start()
                lat = self._stream.latency
                lat = lat if isinstance(lat, tuple) else (lat, lat)
                self._device_in = int(round(lat[0] * rate)) if in_dev else 0
                self._device_out = int(round(lat[1] * rate)) if out_dev else 0
            else:
                self._clock.start()

    def _open_stream(self, sd, in_dev, out_dev, rate, settings):
        pairs = settings.output_pairs
        if self._on_jack and devices._abandoned:
            # PortAudio's JACK client died with its server, and PortAudio cannot start again
            # while that stream is abandoned (see realtime.devices): a JACK client of our own.
            return self._open_jack(in_dev, out_dev, rate, settings)
        if out_dev is not None and len(pairs) > 1:
            if out_dev.hostapi.startswith("JACK"):
                return self._open_jack(in_dev, out_dev, rate, settings)
            need = 2 * len(pairs)
            if out_dev.outputs < need:
                raise StemliveError(
                    f"{out_dev.label} has {out_dev.outputs} output channels; the outputs "
                    f"{', '.join(pairs)} need {need} (a pair each). Send fewer stems, or use "
                    "a multichannel device or JACK"
                )
            self._output_ports = tuple(f"{2 * i + 1}-{2 * i + 2}" for i in range(len(pairs)))
        elif out_dev is not None:
            self._output_ports = ("1-2",)
        kwargs = dict(
            samplerate=rate,
            blocksize=settings.block_size,
            dtype="float32",
            latency="high" if self._via_pulse else "low",
            finished_callback=self._on_finished,
        )
        try:
            if in_dev is not None and out_dev is not None:
                self._in_ch = min(CHANNELS, in_dev.inputs)
                self._out_ch = self._out_channels(out_dev)
                if self._via_pulse:  # a duplex stream there loses seconds: see split_stream.py
                    return SplitStream(
                        sd, (in_dev.index, out_dev.index), (self._in_ch, self._out_ch),
                        callback=self._callback, **kwargs,
                    )  # fmt: skip
                return sd.Stream(
                    device=(in_dev.index, out_dev.index),
                    channels=(self._in_ch, self._out_ch),
                    callback=self._callback,
                    **kwargs,
                )
            if out_dev is not None:
                self._out_ch = self._out_channels(out_dev)
                return sd.OutputStream(
                    device=out_dev.index,
                    channels=self._out_ch,
                    callback=lambda o, f, t, s: self._callback(None, o, f, t, s),
                    **kwargs,
                )
            self._in_ch = min(CHANNELS, in_dev.inputs)
            return sd.InputStream(
                device=in_dev.index,
                channels=self._in_ch,
                callback=lambda i, f, t, s: self._callback(i, None, f, t, s),
                **kwargs,
            )
        except (sd.PortAudioError, ValueError) as exc:
            names = " / ".join(d.name for d in (in_dev, out_dev) if d is not None)
            raise StemliveError(f"cannot open {names} at {rate} Hz: {exc}") from None

    def _out_channels(self, out_dev) -> int:
        n = self._out_ring.channels
        return n if n > CHANNELS else min(CHANNELS, out_dev.outputs)

    def _open_jack(self, in_dev, out_dev, rate, settings):
        """A JACK client of our own with a named stereo pair per output (stem outputs, or
        any JACK stream once PortAudio lost its server)."""
        from realtime.jack_stream import JackStream

        if in_dev is not None and not in_dev.hostapi.startswith("JACK"):
            raise StemliveError(
                f"with stem outputs on JACK the input must be on JACK too, not {in_dev.label}"
            )
        outs = [f"{p}_{side}" for p in settings.output_pairs for side in "LR"] if out_dev else []
        ins = ["in_L", "in_R"] if in_dev is not None else []
        self._in_ch, self._out_ch = len(ins) or CHANNELS, len(outs)
        stream = JackStream(ins, outs, rate, settings.block_size, self._callback)
        self._output_ports = tuple(stream.out_port_names)
        return stream

    def stop(self) -> None:
        """Stop streaming and release the device; closes a recording. Safe when stopped."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        self._reconnect_token = None  # a reconnection under way gives up
        if not self._running and self._worker is None:
            return
        self._running = False
        stream, self._stream = self._stream, None
        if stream is not None:
            _close_stream(stream)
        if self._clock is not None:
            self._clock.join(timeout=2)
            self._clock = None
        self._stop_worker = True
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=5)
        self._worker = None
        self._close_recorder()
        sys.setswitchinterval(self._old_switch)

    def close(self) -> None:
        """Stop and release the file reader."""
        self.stop()
        if self._player is not None:
            self._player.close()
            self._player = None

    @property
    def running(self) -> bool:
        return self._running

    def _reset_counters(self) -> None:
        self._xruns = self._misses = self._hard_misses = self._resyncs = 0
        self._callback_errors = 0
        self._callback_error: str | None = None
        self._device_in = self._device_out = 0
        self._latency_parts: dict[str, float] = {}
        self._times = np.zeros(1024, np.float64)  # worker seconds per block, a ring
        self._times_n = 0
        self._block_seconds = 0.0
        self._peak = self._rms = None
        self._analyser: Analyser | None = None
        self._frames_out = 0
        self._engine_latency = 0
        self._rate = 0
        self._output_ports: tuple[str, ...] = ()

    # -- preparation ----------------------------------------------------------------------
    def _prepare(self, rate: int, settings: StreamSettings) -> None:
        self._reset_counters()
        B = settings.block_size
        self._rate, self._block = rate, B
        self._in_ch = self._out_ch = CHANNELS
        self._fade = max(16, int(FADE_S * rate))
        safety_ms = settings.safety_ms
        if self._via_pulse:
            safety_ms = max(safety_ms, PULSE_SAFETY_MS)
        safety = max(int(round(safety_ms * rate / 1000)), self._fade)
        model_block = int(math.ceil(B * self.model_rate / rate)) + 64
        self._model_block = model_block
        self.separator.prepare(self.model_rate, model_block, CHANNELS)
        self._rs_in = Resampler(rate, self.model_rate, CHANNELS, B)
        pairs = settings.output_pairs
        n_out = 2 * len(pairs)
        self._rs_out = Resampler(self.model_rate, rate, n_out, model_block)
        self._stem_rows = [self.stems.index(s) for s in settings.stem_outputs]
        self._with_monitor = settings.monitor_mix
        # Plug-ins want one block size: the device's when no resampling, else re-blocked.
        reblock = rate != self.model_rate
        if self.fx is not None:
            self.fx.release()  # the worker is stopped: its VST3 instances can be reused
        self.fx = FxRack(
            self.stems,
            self.fx_spec,
            self.model_rate,
            CHANNELS,
            round(B * self.model_rate / rate) if reblock else B,
            self._key if self._key_armed else None,
            reblock=reblock,
        )
        L = self.separator.latency_samples
        to_device = rate / self.model_rate
        # The resamplers' delays are fixed and they deliver every sample as soon as its
        # input is in (never fewer outputs than inputs, counted at the device's rate), so
        # the out ring needs no prefill beyond one block and the safety buffer.
        self._latency_parts = {
            "model": L * to_device,
            "effects/key": self.fx.latency * to_device,
            "resample in": float(self._rs_in.delay),
            "resample out": self._rs_out.delay_out_samples,
            "block": float(B),
            "safety": float(safety),
        }
        worker_delay = round(sum(self._latency_parts[k] for k in LATENCY_PARTS[:4]))
        self._prefill = B + safety
        D = self._prefill + worker_delay
        self._engine_latency = D
        self._fed = self._made = 0  # device frames into the worker, and out of it
        cap = max(int(2.5 * rate), 4 * B + D)
        self._in_ring = RingBuffer(CHANNELS, cap)
        self._out_ring = RingBuffer(n_out, cap)
        self._out_ring.write_zeros(self._prefill)
        self._dry_line = DelayLine(CHANNELS, D, 4096)
        self._model_dry = DelayLine(CHANNELS, L, 2 * model_block + 64)
        self._valid_from = 0
        self._owed = 0
        self._wet_mode = True
        self._w = 1.0
        self._recover_level = max(B + self._fade, min(self._prefill, 2 * B + self._fade))
        self._src = np.zeros((CHANNELS, 4096), np.float32)
        self._wet = np.zeros((n_out, 4096), np.float32)
        self._dry = np.zeros((CHANNELS, 4096), np.float32)
        # When the worker is late, the main and monitor pairs fall back to the dry signal and
        # the stem pairs to silence (their rows stay zero).
        self._dry_out = np.zeros((n_out, 4096), np.float32) if n_out > CHANNELS else None
        self._dry_rows = [2 * i for i, p in enumerate(pairs) if p in ("main", "monitor")]
        self._ramp = np.arange(1, 4097, dtype=np.float32) / self._fade
        self._analyser = Analyser(("input", *self.stems), self.model_rate)
        self._block_seconds = B / rate
        self.mixer.reset()
        self.monitor.reset()
        if self._player is not None and self._player.rate != rate:
            self._reopen_player(rate)
        self._warm_up(model_block)

    def _warm_up(self, model_block: int) -> None:
        """First calls of the model and numpy paths are slow: make them before streaming."""
        silence = np.zeros((CHANNELS, model_block - 64), np.float32)
        for _ in range(max(4, 2 * self.separator.cfg.n_fft // silence.shape[1])):
            stems = self.separator.process(silence)
            self.fx.process(stems, silence, self.mixer)
            self.monitor.process(stems, silence)
        self._rs_in(np.zeros((CHANNELS, self._block), np.float32))  # numba compiles (or loads)
        self._rs_out(np.zeros((self._rs_out.channels, model_block), np.float32))
        self.separator.reset()
        self.fx.reset()
        self._rs_in.reset()
        self._rs_out.reset()

    def _reopen_player(self, rate: int) -> None:
        old = self._player
        player = FilePlayer(old.path, rate, CHANNELS)
        player.seek(old.position_s())
        player.playing, player.loop = old.playing, old.loop
        self._player = player
        old.close()

    # -- the audio callback (PortAudio's thread, or the virtual clock) ---------------------
    def _callback(self, indata, outdata, frames, time_info, status) -> None:
        try:
            self._last_callback = time.monotonic()
            if status:
                self._xruns += 1
            src = self._src[:, :frames]
            capture = self._capture
            if capture is not None and indata is not None:
                capture.write(indata.T)
            player = self._player
            if player is not None:
                player.fill(src, frames)
            elif indata is not None and self._use_input:
                if self._in_ch == 1:
                    src[:] = indata[:, 0]
                else:
                    src[:] = indata.T
            else:
                src.fill(0.0)
            np.nan_to_num(src, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            self._in_ring.write(src)
            dry = self._dry[:, :frames]
            self._dry_line.process(src, dry)
            if self._dry_out is not None:
                dry_out = self._dry_out[:, :frames]
                for r in self._dry_rows:
                    dry_out[r : r + CHANNELS] = dry
                dry = dry_out
            out = self._mix_out(frames, dry)
            if outdata is not None:
                if self._out_ch == 1:
                    outdata[:, 0] = out[:CHANNELS].mean(0)
                else:
                    outdata[:] = out.T
            self._frames_out += frames
            # Last: woken earlier, the worker would wait for the interpreter lock this
            # callback holds, and take it from the callback after the switch interval.
            self._wake.give()
        except Exception as exc:  # noqa: BLE001 - the audio thread must never raise
            self._callback_errors += 1
            self._callback_error = f"{type(exc).__name__}: {exc}"
            if outdata is not None:
                outdata.fill(0.0)

    def _mix_out(self, frames: int, dry: np.ndarray) -> np.ndarray:
        """This block's output: wet from the out ring, or the dry signal, crossfaded."""
        ring = self._out_ring
        if self._owed:
            self._owed -= ring.skip(self._owed)
        fill = ring.available()
        wet = self._wet[:, :frames]
        if self._wet_mode and fill < frames + self._fade:
            self._wet_mode = False  # the worker is late: fade to dry while wet lasts
            self._misses += 1
        elif (
            not self._wet_mode
            and fill >= self._recover_level
            and self._frames_out >= self._valid_from
        ):
            self._wet_mode = True
        got = ring.read_into(wet, min(fill, frames))
        self._owed += frames - got
        target = 1.0 if self._wet_mode else 0.0
        if self._w == target and got == frames:
            if target == 1.0:
                return wet
            return dry
        step = self._ramp[:frames]
        w = np.clip(self._w + step if target == 1.0 else self._w - step, 0.0, 1.0)
        if got < frames:
            if w[got:].any():
                self._hard_misses += 1  # wet ran out before the fade ended
            w[got:] = 0.0
            wet[:, got:] = 0.0
        self._w = float(w[-1])
        return w * wet + (1.0 - w) * dry

    def _virtual_clock(self) -> None:
        """With no device: call the callback on time, as a device would."""
        period = self._block / self._rate
        next_t = time.perf_counter()
        while self._running:
            self._callback(None, None, self._block, None, None)
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:  # the machine stalled: do not try to catch up half a second
                self._xruns += 1
                next_t = time.perf_counter()

    def _on_finished(self) -> None:
        # Not asked for: the device or server went away. A JACK server's loss is handled
        # (reconnected) when the worker sees the callbacks stop.
        if self._running and not self._on_jack:
            self._events.append(Event("device-lost", "the audio device stopped"))

    # -- the worker --------------------------------------------------------------------------
    def _work(self) -> None:
        import torch

        torch.set_num_threads(1)
        _raise_priority()
        B = self._block
        x = np.zeros((CHANNELS, B), np.float32)
        # Woken by the callback; the timeout only paces the device checks when none come.
        poll = 2 * self._block_seconds or 0.01
        ended = False
        while not self._stop_worker:
            try:
                if self._stall_s:
                    # Taken before the sleep: a request made during it stalls once more.
                    stall, self._stall_s = self._stall_s, 0.0
                    time.sleep(stall)
                avail = self._in_ring.available()
                if avail < B:
                    if (
                        self._stream is not None
                        and self._running
                        and time.monotonic() - self._last_callback
                        > (self._device_timeout() if self._frames_out else START_TIMEOUT_S)
                    ):
                        self._device_lost()
                        return
                    player = self._player
                    if player is not None and player.ended != ended:
                        ended = player.ended
                        if ended:
                            self._events.append(Event("end-of-file", str(player.path)))
                    self._wake.wait(poll)
                    continue
                if avail > MAX_BACKLOG_S * self._rate:
                    self._resync(avail - B)
                self._in_ring.read_into(x)
                t0 = time.perf_counter()
                self._process(x)
                self._times[self._times_n % len(self._times)] = time.perf_counter() - t0
                self._times_n += 1
            except Exception as exc:  # noqa: BLE001 - report, and keep the sound going (dry)
                self._events.append(Event("error", f"worker: {type(exc).__name__}: {exc}"))
                time.sleep(0.05)

    def _process(self, x: np.ndarray) -> None:
        xm = self._rs_in(x)
        self._fed += x.shape[1]
        for i in range(0, xm.shape[1], self._model_block):
            self._process_model(xm[:, i : i + self._model_block])

    def _process_model(self, xm: np.ndarray) -> None:
        stems = self.separator.process(xm)
        dry = np.empty_like(xm)
        self._model_dry.process(xm, dry)
        mix, stems = self.fx.process(stems, dry, self.mixer)  # chains, mixer, key shift, master
        monitor = self.monitor.process(stems, dry) if self._with_monitor else None
        recorder = self._recorder
        if recorder is not None:
            recorder.push(mix, stems, monitor)
        self._analyser.process(np.concatenate([dry[None], stems], 0))
        self._peak = (float(np.abs(mix).max()), self._analyser.peak.copy())
        self._rms = (float(np.sqrt(np.mean(np.square(mix)))), self._analyser.rms.copy())
        out = mix
        if self._stem_rows or monitor is not None:  # the other pairs, in StreamSettings' order
            out = np.concatenate(
                [mix, *stems[self._stem_rows], *(() if monitor is None else (monitor,))], 0
            )
        out = self._rs_out(out)
        self._made += out.shape[1]
        self._out_ring.write(out)

    def _device_timeout(self) -> float:
        return SERVER_TIMEOUT_S if self._via_pulse else DEVICE_TIMEOUT_S

    def _resync(self, drop: int) -> None:
        """Far behind: drop ``drop`` input frames, write their output as silence, restart state."""
        drop -= drop % self._block
        self._in_ring.skip(drop)
        # The resamplers may have given a sample or two ahead of the input (they round
        # up); they restart from nothing, so the silence makes up exactly the difference.
        self._out_ring.write_zeros(drop + self._fed - self._made)
        self._fed = self._made = 0
        self.separator.reset()
        self._model_dry.reset()
        self.fx.reset()
        self._rs_in.reset()
        self._rs_out.reset()
        # Wet output means something again once the restarted model has seen a window.
        self._valid_from = self._in_ring._read + self._engine_latency
        self._resyncs += 1

    def _device_lost(self) -> None:
        lost = "the audio device or server stopped responding; streaming ended"
        token = None
        if self._on_jack:
            try:
                from realtime.jack_stream import server_running

                server_running()  # JACK-Client and libjack are there to reconnect with
                token = self._reconnect_token = object()  # before running goes False
            except StemliveError as exc:
                lost = f"the JACK server stopped; {exc}"
        self._running = False
        stream, self._stream = self._stream, None
        if stream is not None:
            devices.abandon(stream)
        if token is None:
            self._events.append(Event("device-lost", lost))
            return
        self._events.append(
            Event("reconnecting", "the JACK server stopped; playing again when it is back")
        )
        threading.Thread(
            target=self._reconnect, args=(token,), name="stemlive-reconnect", daemon=True
        ).start()

    def _reconnect(self, token: object) -> None:
        """Look for the JACK server quietly; once it is back, stream again as before.

        The settings, source, position, mixer, effects and key are the engine's own and
        outlive a restart; the recording goes on into the same take.
        """
        from realtime.jack_stream import server_running

        said = None
        while self._reconnect_token is token:
            time.sleep(RECONNECT_PROBE_S)
            if not server_running():
                continue
            with self._lock:
                if self._reconnect_token is not token:
                    return  # stopped or started anew meanwhile
                recorder, self._recorder = self._recorder, None  # start() would close it
                self._resuming = True  # reconnecting, still, while start() clears the token
                try:
                    self.start(self._settings)
                except Exception as exc:  # noqa: BLE001 - e.g. back at another rate: say, retry
                    self._reconnect_token = token
                    if str(exc) != said:
                        said = str(exc)
                        self._events.append(Event("error", f"reconnecting: {exc}"))
                    continue
                finally:
                    self._recorder = recorder
                    self._resuming = False
            self._events.append(Event("reconnected", "the JACK server is back: playing again"))
            return

    @property
    def reconnecting(self) -> bool:
        """The JACK server went away and the engine waits to stream again."""
        return self._reconnect_token is not None or self._resuming

    def capture_input(self, seconds: float) -> RingBuffer:
        """Keep the next ``seconds`` of the input device's raw samples, aligned with the output.

        Frame i of the capture arrived in the same callback as output frame i, so a
        loopback (cable, or ``jack_connect``) measures the round trip in samples.
        """
        ring = RingBuffer(CHANNELS, max(1, int(seconds * (self._rate or 192000))))
        self._capture = ring
        return ring

    def stall_worker(self, seconds: float) -> None:
        """Make the worker sleep once (tests and demonstrations of overload handling)."""
        self._stall_s = float(seconds)

    # -- sources and transport -------------------------------------------------------------
    def open_file(self, path: str | Path) -> float:
        """Play a file as the source (looped if looping is on); returns its duration."""
        rate = self._rate or self.model_rate
        player = FilePlayer(path, rate, CHANNELS)
        player.loop = self._loop
        old = self._player
        self._player = player
        if old is not None:
            old.close()
        return player.duration_s

    def use_input_device(self) -> None:
        old, self._player = self._player, None
        self._use_input = True
        if old is not None:
            old.close()

    def play(self) -> None:
        if self._player is not None:
            if self._player.ended:
                self._player.seek(0.0)
            self._player.playing = True

    def pause(self) -> None:
        if self._player is not None:
            self._player.playing = False

    def seek(self, seconds: float) -> None:
        if self._player is not None:
            self._player.seek(seconds)

    def set_loop(self, on: bool) -> None:
        """Loop this and every later file."""
        self._loop = bool(on)
        if self._player is not None:
            self._player.loop = self._loop

    # -- recording ---------------------------------------------------------------------------
    def start_recording(self, folder: str | Path, stems: bool = True, mix: bool = True) -> Path:
        """Record into a new take folder under ``folder``; returns the take folder."""
        with self._lock:
            self._close_recorder()
            take = new_take_folder(Path(folder))
            self._recorder = Recorder(
                take, self.model_rate, CHANNELS, self.stems, stems, mix, self._with_monitor
            )
            return take

    def record_to(self, folder: str | Path, stems: bool = True, mix: bool = True) -> Path:
        """Record into exactly ``folder`` (the CLI's --record)."""
        with self._lock:
            self._close_recorder()
            self._recorder = Recorder(
                Path(folder), self.model_rate, CHANNELS, self.stems, stems, mix, self._with_monitor
            )
            return Path(folder)

    def stop_recording(self) -> list[Path]:
        with self._lock:
            return self._close_recorder()

    def _close_recorder(self) -> list[Path]:
        rec, self._recorder = self._recorder, None
        if rec is None:
            return []
        paths = rec.close()
        if rec.error:
            self._events.append(Event("error", rec.error))
        return paths

    # -- effects and key shift ---------------------------------------------------------------
    def set_chains(self, spec: ChainSpec) -> None:
        """New effect chains (a validated ChainSpec); a running stream restarts to apply them."""
        self.fx_spec = {k: tuple(v) for k, v in spec.items()}
        self._restart_if_running()

    def set_fx_param(self, target: str, index: int, name: str, value: float) -> None:
        """Change one slot's parameter: queued, the worker writes it between blocks."""
        spec = with_slot(self.fx_spec, target, index, param=(name, value))
        if spec is None:
            return
        self.fx_spec = spec
        if self.fx is not None and self.fx.spec.get(target):
            self.fx.set_param(target, index, name, float(value))

    def set_fx_bypass(self, target: str, index: int, on: bool) -> None:
        spec = with_slot(self.fx_spec, target, index, bypass=on)
        if spec is None:
            return
        self.fx_spec = spec
        if self.fx is not None and self.fx.spec.get(target):
            self.fx.set_bypass(target, index, on)

    def set_key(self, semitones: int, arm: bool = False) -> None:
        """Shift the accompaniment by whole semitones (-6..6). The first non-zero key (or
        ``arm``) adds the shifter's latency, restarting a running stream; later changes glide."""
        self._key = check_key(semitones)
        if self.fx is not None and self.fx.shifter is not None:
            self.fx.set_key(self._key)
        elif (self._key or arm) and not self._key_armed:
            self._key_armed = True
            self._restart_if_running()

    @property
    def key(self) -> int:
        return self._key

    def _restart_if_running(self) -> None:
        if self._running:
            self.start(self._settings)

    # -- reading the state -------------------------------------------------------------------
    def poll_events(self) -> list[Event]:
        fx = self.fx
        if fx is not None:
            for e in fx.events_since():
                self._events.append(Event(e.kind, f"effects: {e.message}"))
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    @property
    def latency_samples(self) -> int:
        return self._engine_latency + self._device_in + self._device_out

    @property
    def latency_parts(self) -> dict[str, float]:
        """``latency_samples`` part by part (``LATENCY_PARTS``), in device samples."""
        if not self._latency_parts:
            return {}
        return {
            **self._latency_parts,
            "device in": float(self._device_in),
            "device out": float(self._device_out),
        }

    def status(self) -> Status:
        """A copy of the counters and meters; cheap enough for 30 reads a second."""
        n = min(self._times_n, len(self._times))
        times = np.sort(self._times[:n]) if n else np.zeros(1)
        block_s = self._block_seconds  # 0 while a restart (or reconnection) prepares
        an = self._analyser
        player = self._player
        names = ("input", *self.stems)
        peak, rms = self._peak, self._rms
        if self._callback_error:
            self._events.append(Event("error", f"audio callback: {self._callback_error}"))
            self._callback_error = None
        return Status(
            running=self._running,
            has_output=self._running and self._settings.output_device is not None,
            sample_rate=self._rate,
            block_size=getattr(self, "_block", 0),
            latency_samples=self.latency_samples,
            engine_latency_samples=self._engine_latency,
            latency_ms=1000.0 * self.latency_samples / self._rate if self._rate else 0.0,
            latency_parts=self.latency_parts,
            peak=(
                {**dict(zip(names, peak[1].tolist(), strict=True)), "master": peak[0]}
                if peak
                else {}
            ),
            rms=(
                {**dict(zip(names, rms[1].tolist(), strict=True)), "master": rms[0]} if rms else {}
            ),
            spectrogram=an.columns() if an else None,
            spectrogram_sources=names if an else (),
            spectrogram_count=an.count if an else 0,
            spectrogram_freqs=an.freqs if an else None,
            column_seconds=an.column_seconds if an else 0.0,
            worker_p50_ms=1000.0 * float(times[len(times) // 2]),
            worker_p99_ms=1000.0 * float(times[min(len(times) - 1, int(0.99 * len(times)))]),
            worker_load=float(times.sum() / (n * block_s)) if n and block_s else 0.0,
            gc_max_ms=1000.0 * GC_PAUSES.max_s,
            gc_full=GC_PAUSES.full,
            memory_locked=self._memory_locked,
            xruns=self._xruns,
            misses=self._misses,
            hard_misses=self._hard_misses,
            resyncs=self._resyncs,
            callback_errors=self._callback_errors,
            out_fill=self._out_ring.available() if self._running else 0,
            fx_latency_samples=self.fx.latency if self.fx is not None else 0,
            key=self._key,
            position_s=player.position_s() if player else 0.0,
            duration_s=player.duration_s if player else 0.0,
            playing=bool(player and player.playing and not player.ended),
            looping=bool(player and player.loop),
            recording=self._recorder is not None,
            reconnecting=self.reconnecting,
            source="file" if player else ("input" if self._settings.input_device else "none"),
            outputs=self._settings.output_pairs,
            output_ports=self._output_ports,
        )


class _GcPauses:
    """The garbage collector's longest pause and its full passes, process-wide, since reset."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self.full = 0
        self._t0 = 0.0
        gc.callbacks.append(self._on_gc)

    def reset(self) -> None:
        self.max_s, self.full = 0.0, 0

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        self.max_s = max(self.max_s, time.perf_counter() - self._t0)
        if info["generation"] == 2:
            self.full += 1


GC_PAUSES = _GcPauses()


def _freeze_heap() -> None:
    """Collect once, then keep every object alive now out of later collections.

    torch, onnxruntime and numpy leave ~200 000 objects that the collector's full
    passes walk while holding the interpreter lock: 155 ms per pass here, during which
    neither the audio callback nor the worker runs (a miss at any safety buffer, and
    xruns). Frozen, a full pass walks only what was made since (measured: 0.001 ms).
    Called before streaming starts (what was frozen before is unfrozen and collected
    first, so that nothing stays uncollected across restarts); objects made later stay
    collectable. The pause counters start again here.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    GC_PAUSES.reset()


def raise_threads() -> None:
    """Raise this process's threads that run at ordinary priority to ENGINE_RT_PRIORITY
    (FIFO; else a lower nice value), and so the threads they start later.

    For the engine process, where every thread takes the interpreter lock that the
    audio callback and the worker need: an ordinary thread that holds it and is then
    preempted by another process (the window, at 30 frames a second) keeps them
    waiting until it runs again (priority inversion). Threads already real-time
    (the worker, JACK's) keep their priority.
    """
    for tid in (int(t) for t in os.listdir("/proc/self/task")):
        try:
            if os.sched_getscheduler(tid) != os.SCHED_OTHER:
                continue
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(ENGINE_RT_PRIORITY))
        except (OSError, AttributeError):
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICE)


def _raise_priority() -> None:
    """Ask the OS to favour the calling (worker) thread over ordinary processes.

    The audio callback (a real-time thread under JACK) needs the interpreter lock
    that this thread holds while it computes; if the OS deschedules this thread for
    a busy neighbour, the callback waits too. Real-time FIFO scheduling at a
    priority below the audio thread's when allowed (root, or an rtprio limit; the
    kernel's RT throttling keeps 5 % of each core for others), else a lower nice
    value, else nothing.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(WORKER_RT_PRIORITY))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)


def _close_stream(stream) -> None:
    """Stop and close a stream, abandoning it if its server no longer answers."""
    done = threading.Event()

    def close() -> None:
        try:
            stream.abort()
            stream.close()
        except Exception:  # noqa: BLE001, S110 - a dead server; abandoned below
            pass
        done.set()

    threading.Thread(target=close, name="stemlive-close", daemon=True).start()
    if not done.wait(2.0):
        devices.abandon(stream)
