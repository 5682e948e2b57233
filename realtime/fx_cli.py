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
    q = sub.add_parser("bench", help="CPU per block of a chain file's chains and of key shift")
    q.add_argument(
        "--fx",
        metavar="CHAIN",
        help="chain file (default: 3 built-ins per stem and 3 on the master)",
    )
    q.add_argument("--block", type=int, default=256, help="frames per block (default 256)")
    q.add_argument("--rate", type=int, default=44100, help="sample rate (default 44100)")
    q.add_argument("--seconds", type=float, default=20.0, help="audio streamed (default 20)")
    q.set_defaults(func=_bench)


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


DEFAULT_BENCH_CHAIN = {
    "vocals": [
        {"plugin": "Compressor", "threshold_db": -20, "ratio": 4},
        {"plugin": "Reverb", "wet_level": 0.3},
        {"plugin": "HighpassFilter", "cutoff_frequency_hz": 100},
    ],
    "bass": [{"plugin": "Gain"}, {"plugin": "LowpassFilter"}, {"plugin": "Compressor"}],
    "drums": [{"plugin": "NoiseGate"}, {"plugin": "PeakFilter"}, {"plugin": "Limiter"}],
    "other": [{"plugin": "Chorus"}, {"plugin": "Delay"}, {"plugin": "Phaser"}],
    "master": [{"plugin": "HighShelfFilter"}, {"plugin": "Compressor"}, {"plugin": "Limiter"}],
}


def _bench(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from realtime.fx import load_chains, parse_chains
    from realtime.fxrack import ConstantMix, FxRack

    stems = ("vocals", "bass", "drums", "other")
    spec = (
        load_chains(args.fx, stems)
        if args.fx
        else parse_chains(DEFAULT_BENCH_CHAIN, stems, "default bench chain")
    )
    B, rate = args.block, args.rate
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((4, 2, B))).astype(np.float32)
    dry = x.sum(0)
    mixer = ConstantMix(np.ones(4))
    n = int(args.seconds * rate / B)
    result = {}
    for name, key in (("chains", None), ("chains + key shift", 0), ("key shift alone", 0)):
        rack = FxRack(stems, {} if name == "key shift alone" else spec, rate, 2, B, key)
        if rack.shifter is not None:
            rack.set_key(3)
        times = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            rack.process(x, dry, mixer)
            times[i] = time.perf_counter() - t0
        times.sort()
        result[name] = (
            1000 * times[n // 2],
            1000 * times.mean(),
            1000 * times[int(0.99 * n)],
            rack.latency,
        )
    slots = sum(len(v) for v in spec.values())
    print(f"{slots} effects, stereo, blocks of {B} at {rate} Hz ({1000 * B / rate:.2f} ms):")
    for name, (med, mean, p99, lat) in result.items():
        print(
            f"  {name:20s} median {med:.3f} ms, mean {mean:.3f}, p99 {p99:.3f} ms per block "
            f"({100 * mean / (1000 * B / rate):.1f}% of real time), latency {lat} samples"
        )
    return 0
