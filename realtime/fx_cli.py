"""`stemlive fx list`: what effects can be loaded, with their parameters."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fx", help="effect plug-ins for chain files (stemlive fx list)")
    sub = p.add_subparsers(dest="fx_command", metavar="ACTION", required=True)
    q = sub.add_parser("list", help="built-in effects and VST3 plug-ins, with their parameters")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from realtime.fx import VST3_DENY, VST3_PATHS, list_plugins

    plugins = list_plugins()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "plugin": p.name,
                        "kind": p.kind,
                        "block_size_dependent": p.block_size_dependent,
                        "parameters": [
                            {
                                "name": q.name,
                                "min": q.minimum,
                                "max": q.maximum,
                                "unit": q.unit,
                                "default": q.default,
                            }
                            for q in p.params
                        ],
                    }
                    for p in plugins
                ],
                indent=2,
            )
        )
        return 0
    for p in plugins:
        note = " (output depends on the block size)" if p.block_size_dependent else ""
        print(f"{p.name}  [{p.kind}]{note}")
        for q in p.params:
            unit = f" {q.unit}" if q.unit else ""
            print(f"    {q.name}: {q.minimum:g}..{q.maximum:g}{unit} (now {q.default:g})")
    print(
        f"VST3 folders searched: {', '.join(VST3_PATHS)}; left out: "
        + ", ".join(f"{k} ({v})" for k, v in VST3_DENY.items())
    )
    return 0
