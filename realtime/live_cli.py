"""`stemlive devices`, `stemlive live`, `stemlive play` and `stemlive livebench`."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from realtime import BENCH_PERIOD, DEFAULT_SAFETY_MS, add_arithmetic_argument

STEMS = ("vocals", "bass", "drums", "other")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("devices", help="list audio devices")
    p.add_argument("--jack-dummy", action="store_true", help="start a JACK dummy server first")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_devices)

    p = subparsers.add_parser(
        "live", help="separate a live input and play the remix", description="Live remix."
    )
    p.add_argument(
        "--input",
        metavar="DEV",
        help="input device (name or index), or 'desktop' / 'desktop:SINK': what the computer "
        "plays (the monitor of a PulseAudio/PipeWire sink)",
    )
    p.add_argument(
        "--output",
        metavar="DEV",
        help="output device, 'pulse:SINK', or 'none'; never the sink being captured",
    )
    p.add_argument(
        "--route-desktop",
        action="store_true",
        help="route the desktop through stemlive: a virtual sink becomes the default, "
        "stemlive separates it and plays into the real sink (restored on exit)",
    )
    _stream_args(p)
    p.set_defaults(func=_live)

    p = subparsers.add_parser(
        "play",
        help="play a song with stems remixed (karaoke from a file)",
        description="Play FILE in real time through the separator, e.g. --mute vocals.",
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--output", default="default", metavar="DEV", help="output device, or 'none' (silent)"
    )
    p.add_argument("--loop", action="store_true", help="start again at the end")
    _stream_args(p)
    p.set_defaults(func=_play)

    p = subparsers.add_parser(
        "livebench",
        help="measure the live engine on a JACK dummy server",
        description="Stream the demo song in loopback through a JACK dummy server it starts: "
        "xruns, misses, worker p50/p99, the stated latency part by part and the round trip "
        "measured by cross-correlation.",
    )
    p.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    p.add_argument("--model", help="weights folder or name (default: the shipped default)")
    p.add_argument("--preset", help="an untrained model of this preset instead")
    add_arithmetic_argument(p)
    p.add_argument("--rate", type=int, default=48000, help="JACK's rate (default 48000)")
    p.add_argument(
        "--block", type=int, default=BENCH_PERIOD, help=f"JACK period (default {BENCH_PERIOD})"
    )
    p.add_argument(
        "--safety-ms",
        type=float,
        default=DEFAULT_SAFETY_MS,
        help=f"safety buffer (default {DEFAULT_SAFETY_MS:g})",
    )
    p.add_argument(
        "--gui-load", action="store_true", help="a thread that imitates a 30 fps GUI as well"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_livebench)


def _stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="weights folder or name (default: the shipped default)")
    add_arithmetic_argument(p)
    p.add_argument("--rate", type=int, help="device sample rate (default: the device's)")
    p.add_argument("--block", type=int, default=256, help="frames per callback (default 256)")
    p.add_argument(
        "--safety-ms",
        type=float,
        default=DEFAULT_SAFETY_MS,
        help=f"time the worker may be late (default {DEFAULT_SAFETY_MS:g})",
    )
    p.add_argument("--gain", action="append", default=[], metavar="STEM=DB", help="e.g. vocals=-6")
    p.add_argument("--mute", action="append", default=[], metavar="STEM", choices=STEMS)
    p.add_argument("--solo", action="append", default=[], metavar="STEM", choices=STEMS)
    p.add_argument("--bypass", action="store_true", help="play the original (latency-aligned)")
    p.add_argument("--fx", type=Path, metavar="CHAIN", help="a chain file (see README: effects)")
    p.add_argument("--key", type=int, metavar="N", help="shift the accompaniment N semitones")
    p.add_argument("--record", type=Path, metavar="DIR", help="record mix.wav and the stems")
    p.add_argument(
        "--stem-outputs",
        nargs="?",
        const=",".join(STEMS),
        default="",
        metavar="STEM,...",
        help="an output pair per stem after the main pair (all stems if none named): on JACK "
        "ports stemlive:vocals_L..., on a multichannel device channels 3-4, 5-6...",
    )
    p.add_argument(
        "--monitor-mix",
        metavar="STEM=GAIN,...",
        help="a second mix on its own output pair (the last), linear gains, unnamed stems 1, "
        "e.g. vocals=1,drums=0.5; recorded as monitor.wav",
    )
    p.add_argument("--midi", metavar="PORT", help="MIDI controller input (see README: MIDI)")
    p.add_argument("--midi-map", type=Path, metavar="FILE", help="MIDI map JSON (with --midi)")
    p.add_argument("--seconds", type=float, help="stop after this long")
    p.add_argument("--jack-dummy", action="store_true", help="start a JACK dummy server first")
    p.add_argument("--quiet", action="store_true", help="no status line")


def _parse_gain(text: str) -> tuple[str, float]:
    stem, sep, value = text.partition("=")
    if not sep or stem not in STEMS:
        raise StemliveError(f"--gain wants STEM=DB with STEM one of {', '.join(STEMS)}: {text!r}")
    try:
        db = -math.inf if value.strip().lower() in ("-inf", "off") else float(value)
    except ValueError:
        raise StemliveError(f"--gain {text!r}: {value!r} is not a number of dB") from None
    if math.isnan(db) or db > 12.0:
        raise StemliveError(f"--gain {text!r}: must be -inf..12 dB")
    return stem, db


@contextlib.contextmanager
def _maybe_jack(on: bool, rate: int | None = None, block: int = 256):
    if not on:
        yield None
        return
    from realtime.jack import dummy_server

    with dummy_server("stemlive-dummy", rate or 48000, block) as server:
        yield server


def _devices(args: argparse.Namespace) -> int:
    from realtime.desktop import list_sources
    from realtime.devices import list_devices, rescan

    with _maybe_jack(args.jack_dummy):
        rescan()
        devs = list_devices()
    if args.json:
        print(json.dumps([d.__dict__ for d in devs], indent=2))
        return 0
    if not devs:
        print("no audio devices (no sound card or audio server; try --jack-dummy)")
    for d in devs:
        print(f"{d.index:3d}  {d.label}  in {d.inputs}, out {d.outputs}, {d.default_rate:g} Hz")
    sources = list_sources()
    if sources:
        print("\ndesktop audio (what the computer plays; --input SPEC):")
        for s in sources:
            default = "   [default: --input desktop]" if s.default else ""
            print(f"  {s.spec:24s} {s.label}{default}")
    return 0


def _backend(args: argparse.Namespace) -> str:
    from model.onnx_step import live_backend

    return live_backend(args.arithmetic == "int8")


def _engine(args: argparse.Namespace):
    from model.separator import Separator
    from realtime.engine import Engine

    gains = [_parse_gain(g) for g in args.gain]
    engine = Engine(Separator.load(args.model, backend=_backend(args)))
    if getattr(args, "fx", None) is not None:
        from realtime.fx import load_chains

        engine.set_chains(load_chains(args.fx, engine.stems))
    if getattr(args, "key", None) is not None:
        engine.set_key(args.key, arm=True)
    for stem, db in gains:
        engine.mixer.set_gain_db(stem, db)
    for stem in args.mute:
        engine.mixer.set_mute(stem, True)
    for stem in args.solo:
        engine.mixer.set_solo(stem, True)
    engine.mixer.set_bypass(args.bypass)
    if args.monitor_mix is not None:
        from realtime.offline import parse_gains

        for stem, g in parse_gains(args.monitor_mix, engine.stems).items():
            if not 0.0 <= g <= 4.0:
                raise StemliveError(f"--monitor-mix {stem}={g:g}: gains must be 0..4 (linear)")
            engine.monitor.set_gain_db(stem, 20.0 * math.log10(g) if g > 0 else -math.inf)
    return engine


def _stem_outputs(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in STEMS]
    if bad:
        raise StemliveError(
            f"--stem-outputs: no stem {', '.join(bad)}; stems are {', '.join(STEMS)}"
        )
    return names


def _device_arg(value: str | None, kind: str) -> str | None:
    if value is None or value.lower() == "none":
        return None
    if value != "default":
        return value
    from realtime.devices import default_device, rescan

    rescan()
    device = default_device(kind)
    if device is None:
        raise StemliveError(
            f"no default {kind} device (no sound card or audio server): "
            f"name one with --{kind} (see 'stemlive devices'), or --{kind} none to run silently"
        )
    return str(device.index)


def _status_line(st) -> str:
    pos = f"{st.position_s:6.1f}/{st.duration_s:.1f} s | " if st.duration_s else ""
    fx = (
        f" (effects/key {1000 * st.fx_latency_samples / st.sample_rate:.1f})"
        if st.fx_latency_samples and st.sample_rate
        else ""
    )
    return (
        f"{pos}latency {st.latency_ms:.1f} ms{fx} | CPU {100 * st.worker_load:.0f}% "
        f"(p99 {st.worker_p99_ms:.1f} ms) | xruns {st.xruns} | misses {st.misses}"
    )


def latency_breakdown(st) -> str:
    """ "latency 84.0 ms = model 46.4 + ... + device out 5.3" from a Status."""
    if not st.latency_parts or not st.sample_rate:
        return f"latency {st.latency_ms:.1f} ms"
    ms = 1000.0 / st.sample_rate
    parts = " + ".join(f"{k} {v * ms:.1f}" for k, v in st.latency_parts.items())
    return f"latency {st.latency_ms:.1f} ms ({st.latency_samples} samples) = {parts} ms"


def _routing_line(st) -> str:
    """Where each output pair goes: JACK ports (L and R) or device channels."""
    ports = list(st.output_ports)
    if len(ports) == 2 * len(st.outputs):  # JACK: two port names per pair
        ports = [f"{ports[2 * i]} {ports[2 * i + 1]}" for i in range(len(st.outputs))]
        where = dict(zip(st.outputs, ports, strict=True))
    elif len(ports) == len(st.outputs):
        where = {o: f"channels {p}" for o, p in zip(st.outputs, ports, strict=True)}
    else:
        where = dict.fromkeys(st.outputs, "(no output device)")
    return "outputs: " + "; ".join(f"{o} -> {w}" for o, w in where.items())


def _run_engine(engine, settings, args, until_end: bool) -> int:
    """Stream until Ctrl-C, --seconds, the end of the file or a lost device."""
    tty = sys.stderr.isatty()
    code = 0
    midi = _open_midi(engine, args)
    try:
        engine.start(settings)
        st = engine.status()
        if not args.quiet:
            print(latency_breakdown(st), file=sys.stderr)
        if len(st.outputs) > 1 and not args.quiet:
            print(_routing_line(st), file=sys.stderr)
        if args.record:
            engine.record_to(args.record)
        t0 = time.monotonic()
        last_print = 0.0
        while True:
            time.sleep(0.1)
            events = engine.poll_events()
            for e in events:
                if e.kind in ("device-lost", "error", "reconnecting", "reconnected"):
                    print(f"\nstemlive: {e.message}", file=sys.stderr)
            lost = any(e.kind == "device-lost" for e in events)
            if lost or not (engine.running or engine.reconnecting):
                code = 2
                break
            if until_end and any(e.kind == "end-of-file" for e in events):
                time.sleep(engine.latency_samples / max(1, engine.status().sample_rate))
                break
            if args.seconds is not None and time.monotonic() - t0 >= args.seconds:
                break
            now = time.monotonic()
            if not args.quiet and now - last_print >= (0.5 if tty else 5.0):
                last_print = now
                line = _status_line(engine.status())
                print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr)
    except KeyboardInterrupt:
        code = 0
    finally:
        st = engine.status()
        paths = engine.stop_recording()
        engine.close()
        if midi is not None:
            midi.close()
    if not args.quiet:
        print(("\n" if tty else "") + "stopped: " + _status_line(st), file=sys.stderr)
    if midi is not None:
        control = midi.on_message
        print(
            f"midi: {midi.received} messages from {midi.port!r}, {control.applied} applied"
            f"{f', {midi.errors} failed ({midi.last_error})' if midi.errors else ''}; "
            f"{control.describe()}",
            file=sys.stderr,
        )
    if paths:
        print(f"recorded {len(paths)} files in {paths[0].parent}", file=sys.stderr)
    return code


def _open_midi(engine, args: argparse.Namespace):
    """The --midi port driving the engine (a MidiInput), or None; errors list the ports."""
    if args.midi is None:
        if args.midi_map is not None:
            raise StemliveError("--midi-map needs --midi PORT")
        return None
    from realtime.midi import EngineControl, MidiInput, MidiMap

    stems = engine.stems
    midi_map = MidiMap.load(args.midi_map, stems) if args.midi_map else MidiMap.default(stems)
    control = EngineControl(engine, midi_map)
    if control.uses_key():
        engine.set_key(engine.key, arm=True)  # a key knob then glides, never restarts the stream
    midi = MidiInput(args.midi, control)
    if not args.quiet:
        print(f"midi: {midi.port!r} ({len(midi_map)} mappings)", file=sys.stderr)
    return midi


def _live(args: argparse.Namespace) -> int:
    from realtime.desktop import DesktopRoute
    from realtime.engine import StreamSettings

    route = None
    if args.route_desktop:
        if args.input is not None:
            raise StemliveError("--route-desktop chooses the input itself: leave out --input")
        route = DesktopRoute()
        args.input = route.input_spec
        args.output = args.output or route.output_spec
        print(
            f"routing the desktop through stemlive: apps play into {route.input_spec[8:]}, "
            f"the remix goes to {args.output}",
            file=sys.stderr,
        )
    try:
        return _live_with(args, StreamSettings)
    finally:
        if route is not None:
            route.close()


def _live_with(args: argparse.Namespace, StreamSettings) -> int:  # noqa: N803
    if args.input is None or args.output is None:
        raise StemliveError("live needs --input and --output (or --route-desktop)")
    with _maybe_jack(args.jack_dummy, args.rate, args.block):
        settings = StreamSettings(
            input_device=_device_arg(args.input, "input"),
            output_device=_device_arg(args.output, "output"),
            sample_rate=args.rate,
            block_size=args.block,
            safety_ms=args.safety_ms,
            stem_outputs=_stem_outputs(args.stem_outputs),
            monitor_mix=args.monitor_mix is not None,
        )
        if settings.input_device is None:
            raise StemliveError("live needs an input device (see 'stemlive devices')")
        engine = _engine(args)
        return _run_engine(engine, settings, args, until_end=False)


def _play(args: argparse.Namespace) -> int:
    from realtime.engine import StreamSettings

    with _maybe_jack(args.jack_dummy, args.rate, args.block):
        output = "JACK Audio" if args.jack_dummy and args.output == "default" else args.output
        settings = StreamSettings(
            output_device=_device_arg(output, "output"),
            sample_rate=args.rate,
            block_size=args.block,
            safety_ms=args.safety_ms,
            stem_outputs=_stem_outputs(args.stem_outputs),
            monitor_mix=args.monitor_mix is not None,
        )
        engine = _engine(args)
        engine.open_file(args.file)
        engine.set_loop(args.loop)
        return _run_engine(engine, settings, args, until_end=not args.loop)


# -- livebench --------------------------------------------------------------------------------
def _gui_load(engine, stop: threading.Event, frames: list[float]) -> None:
    """What a 30 fps GUI does in Python: read the snapshot, map the spectrogram, draw."""
    while not stop.is_set():
        t0 = time.perf_counter()
        st = engine.status()
        if st.spectrogram is not None:
            img = st.spectrogram[:, :, ::2]
            np.clip((img + 100.0) * 2.55, 0, 255).astype(np.uint8)
        for _ in range(300):  # widget updates: small Python work
            pass
        frames.append(time.perf_counter() - t0)
        stop.wait(max(0.0, 1 / 30 - (time.perf_counter() - t0)))


def _round_trip(captured: np.ndarray, source: np.ndarray, max_lag: int) -> int:
    """The lag at which the captured input best matches the source (FFT cross-correlation)."""
    n = min(len(captured), len(source) + max_lag)
    a, b = captured[:n], source[: n - max_lag]
    size = 1 << int(np.ceil(np.log2(n + len(b))))
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    return int(np.argmax(corr[:max_lag]))


def _livebench(args: argparse.Namespace) -> int:
    from model.separator import Separator
    from realtime.engine import Engine, StreamSettings
    from realtime.jack import dummy_server
    from realtime.player import FilePlayer

    demo = Path(__file__).resolve().parent.parent / "model" / "demo" / "demo_song.flac"
    backend = _backend(args)
    if args.preset:
        sep = Separator.from_preset(args.preset, backend=backend)
    else:
        sep = Separator.load(args.model, backend=backend)
    engine = Engine(sep)
    engine.open_file(demo)
    engine.set_loop(True)
    stop = threading.Event()
    gui_frames: list[float] = []
    with dummy_server("stemlive-bench", args.rate, args.block) as jack:
        capture = engine.capture_input(8.0)
        engine.start(
            StreamSettings(
                input_device="JACK Audio",
                output_device="JACK Audio",
                sample_rate=args.rate,
                block_size=args.block,
                safety_ms=args.safety_ms,
            )
        )
        jack.loopback()
        if args.gui_load:
            threading.Thread(target=_gui_load, args=(engine, stop, gui_frames), daemon=True).start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(0.5)
            if not engine.running:
                break
        st = engine.status()
        stop.set()
        engine.close()
    captured = capture.read(capture.available())[0]
    song = FilePlayer(demo, args.rate)
    song.wait_decoded()
    measured = _round_trip(captured, song.audio[0], max_lag=args.rate // 2)
    result = {
        "model": sep.info.get("name", args.preset or "default"),
        "seconds": round(time.monotonic() - t0, 1),
        "rate": args.rate,
        "block": args.block,
        "gui_load": args.gui_load,
        "xruns": st.xruns,
        "misses": st.misses,
        "hard_misses": st.hard_misses,
        "resyncs": st.resyncs,
        "worker_p50_ms": round(st.worker_p50_ms, 2),
        "worker_p99_ms": round(st.worker_p99_ms, 2),
        "worker_load": round(st.worker_load, 3),
        "memory_locked": st.memory_locked,
        "period_ms": round(1000 * args.block / args.rate, 2),
        "reported_latency_samples": st.latency_samples,
        "measured_round_trip_samples": measured,
        "measured_minus_reported": measured - st.latency_samples,
        "latency_ms": round(st.latency_ms, 1),
        "measured_ms": round(1000 * measured / args.rate, 1),
        "latency_parts_ms": {
            k: round(1000 * v / args.rate, 2) for k, v in st.latency_parts.items()
        },
    }
    if gui_frames:
        result["gui_frames"] = len(gui_frames)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            if k == "latency_parts_ms":
                print("latency parts (ms)")
                for part, ms in v.items():
                    print(f"  {part:28s} {ms} ms")
            else:
                print(f"{k:30s} {v}")
    return 0
