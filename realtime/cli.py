"""The `stemlive` command: a thin shell that collects subcommands from every package.

Each package registers its subcommands through the ``stemlive.commands`` entry
point group, so no package imports another against the dependency direction.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from model.errors import StemliveError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="stemlive", description="Real-time music stem separation."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for ep in sorted(entry_points(group="stemlive.commands"), key=lambda e: e.name):
        ep.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; user errors become one line on stderr and a non-zero exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("stemlive: interrupted", file=sys.stderr)
        return 130
    except StemliveError as exc:
        print(f"stemlive {args.command}: error: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the live-engine subcommands (devices, live, play, livebench, resamplebench) and fx."""
    from realtime.fx_cli import register as register_fx
    from realtime.live_cli import register as register_live
    from realtime.resample_bench import register as register_resample

    register_live(subparsers)
    register_resample(subparsers)
    register_fx(subparsers)


if __name__ == "__main__":
    sys.exit(main())
