"""`stemlive gui`: the desktop window. Qt is imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.errors import StemliveError
from realtime import add_arithmetic_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands."""
    p = subparsers.add_parser(
        "gui",
        help="open the desktop window (mixer, spectrograms, transport)",
        description="Open the stemlive window, playing FILE (or the last song, or the demo).",
    )
    p.add_argument("file", nargs="?", help="song to play (default: the last one, or the demo)")
    p.add_argument("--model", metavar="PATH", help="weights folder (default: the shipped model)")
    p.add_argument("--input", metavar="DEV", help="input device name or index")
    p.add_argument("--output", metavar="DEV", help="output device name or index")
    p.add_argument(
        "--no-output",
        action="store_true",
        help="no output device: separate and draw, play nothing (headless machines)",
    )
    p.add_argument("--latency", choices=("standard", "low-latency"), help="latency preset")
    add_arithmetic_argument(p, default=None)  # None: the stored setting; a choice is kept
    p.add_argument("--loop", action="store_true", help="play the song in a loop")
    p.add_argument("--fps", type=float, default=30.0, help="redraw rate (default 30)")
    p.add_argument("--settings", metavar="FILE", help="keep settings in this INI file")
    p.add_argument(
        "--quit-after", type=float, metavar="S", help="close after S seconds (measurements)"
    )
    p.add_argument("--screenshot", metavar="PNG", help="with --quit-after: save the window")
    p.add_argument("--stats", metavar="JSON", help="with --quit-after: write counters as JSON")
    p.add_argument("--fx", metavar="CHAIN", help="effect chains from a chain file")
    p.add_argument("--key", type=int, metavar="N", help="shift the accompaniment N semitones")
    p.add_argument("--midi", metavar="PORT", help="MIDI controller input (remembered)")
    p.add_argument("--midi-map", metavar="FILE", help="MIDI map JSON (replaces the stored map)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the audio engine in the window's process, not its own (debugging; "
        "also STEMLIVE_IN_PROCESS=1)",
    )
    p.set_defaults(func=_run)
    from gui.fault_cli import register as register_faults

    register_faults(subparsers)


def _run(args: argparse.Namespace) -> int:
    if args.file and not Path(args.file).is_file():
        raise StemliveError(f"{args.file}: no such file")
    if not 1.0 <= args.fps <= 120.0:
        raise StemliveError(f"--fps must be 1..120, not {args.fps}")
    if (args.screenshot or args.stats) and args.quit_after is None:
        raise StemliveError("--screenshot and --stats need --quit-after")
    if args.key is not None:
        from realtime.keyshift import check_key

        check_key(args.key)
    if args.midi is not None:
        from realtime.midi import find_port

        find_port(args.midi)  # a missing port: the ports there are, exit 2, no window
    from gui.app import AppOptions, run  # Qt only now: other subcommands stay light

    return run(
        AppOptions(
            file=args.file,
            model=args.model,
            input_device=args.input,
            output_device=args.output,
            no_output=args.no_output,
            latency_preset=args.latency,
            arithmetic=args.arithmetic,
            loop=args.loop,
            fps=args.fps,
            settings_file=args.settings,
            quit_after_s=args.quit_after,
            screenshot=args.screenshot,
            stats=args.stats,
            fx=args.fx,
            key=args.key,
            midi=args.midi,
            midi_map=args.midi_map,
            in_process=args.in_process,
        )
    )
