"""`stemlive separate`, `stemlive bench` and `stemlive info`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from model.errors import StemliveError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the file-separation, benchmark and model-info subcommands."""
    p = subparsers.add_parser("separate", help="separate audio files into stems")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="audio files")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--model", help="weights folder or name (default: the shipped default)")
    p.add_argument(
        "--mix", metavar="STEM=GAIN,...", help="also write mix.wav, e.g. vocals=0 for karaoke"
    )
    p.add_argument(
        "--subtype", default="FLOAT", help="WAV sample format: FLOAT (default), PCM_16, PCM_24"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: more threads slow down badly on a busy machine)",
    )
    p.add_argument("--fx", type=Path, metavar="CHAIN", help="a chain file (see README: effects)")
    p.add_argument(
        "--key", type=int, metavar="N", help="shift the mix's accompaniment N semitones (-6..6)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_separate)

    p = subparsers.add_parser("bench", help="measure separation speed and latency")
    p.add_argument("--preset", help="an untrained model of this preset instead of the weights")
    p.add_argument("--model", help="weights folder or name (default: the shipped default)")
    p.add_argument("--seconds", type=float, default=20.0, help="audio streamed (default 20)")
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnx", "onnx-int8"],
        help="streamed step: onnxruntime or eager torch (default: onnx when installed)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_bench)

    p = subparsers.add_parser("info", help="describe a model: config, latency, provenance")
    p.add_argument("--model", help="weights folder or name (default: the shipped default)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_info)


def _separate(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from model.separator import Separator
    from realtime.offline import parse_gains, separate_file

    if args.threads:
        torch.set_num_threads(args.threads)
    sep = Separator.load(args.model)
    mix = parse_gains(args.mix, sep.stems) if args.mix is not None else None
    chains = key = None
    if args.fx is not None:
        from realtime.fx import load_chains

        chains = load_chains(args.fx, sep.stems)
    if args.key is not None:
        from realtime.keyshift import check_key

        key = check_key(args.key)
        if mix is None:
            raise StemliveError("--key changes the mix: give --mix too (e.g. --mix vocals=1)")
    if args.subtype not in {"FLOAT", "PCM_16", "PCM_24", "PCM_32", "DOUBLE"}:
        raise StemliveError(f"unknown --subtype {args.subtype!r}: use FLOAT, PCM_16 or PCM_24")
    failures = 0
    for path in args.inputs:
        bar = tqdm(total=1, desc=path.name, unit="frame", disable=args.quiet, leave=False)

        def progress(done: int, total: int, bar: tqdm = bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            written = separate_file(
                sep,
                path,
                args.out,
                mix,
                args.subtype,
                progress,
                warn=lambda msg: print(f"stemlive separate: warning: {msg}", file=sys.stderr),
                chains=chains,
                key=key,
            )
        except StemliveError as exc:
            print(f"stemlive separate: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        finally:
            bar.close()
        print(f"{path} -> {written[0].parent}/ ({', '.join(p.name for p in written)})")
    return 2 if failures else 0


def _load_for_bench(args: argparse.Namespace):
    from model.separator import Separator

    if args.preset:
        try:
            return Separator.from_preset(args.preset, backend=args.backend)
        except ValueError as exc:
            raise StemliveError(str(exc)) from None
    return Separator.load(args.model, backend=args.backend)


def _bench(args: argparse.Namespace) -> int:
    from model.benchmark import bench_offline, bench_streaming, profile_step

    sep = _load_for_bench(args)
    stream = bench_streaming(sep, args.seconds)
    profile = profile_step(sep)
    offline = bench_offline(sep, seconds=min(args.seconds, 30.0), threads=os.cpu_count())
    result = {
        "model": sep.info.get("name", "?"),
        "backend": sep.backend,
        "streaming": stream,
        "profile_ms": profile,
        "offline": offline,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    macs = stream["macs_per_frame"]
    total = sum(macs.values())
    print(
        f"model {result['model']}: {stream['parameters']:,} parameters, "
        f"{stream['gmac_per_s']:.2f} GMAC/s streaming stereo"
    )
    print(
        f"algorithmic latency {stream['latency_samples']} samples = "
        f"{stream['latency_ms']:.1f} ms at {sep.sample_rate} Hz"
    )
    print(
        f"streaming ({sep.backend} backend), one thread, stereo, {len(sep.stems)} stems, "
        f"hop {stream['hop_samples']} "
        f"({stream['hop_ms']:.2f} ms): median {stream['median_ms']:.2f} ms, "
        f"p99 {stream['p99_ms']:.2f} ms, max {stream['max_ms']:.2f} ms per hop"
    )
    print(
        f"real-time factor {stream['rtf']:.3f} (compute time / audio time; "
        f"median hop {stream['rtf_median']:.3f})"
    )
    print(
        "MACs per frame and channel: "
        + ", ".join(f"{k} {v / 1e6:.2f} M ({100 * v / total:.0f}%)" for k, v in macs.items())
    )
    print(
        "where the eager torch step's time goes (median ms): "
        + ", ".join(f"{k} {v:.2f}" for k, v in profile.items())
    )
    print(f"offline path: {offline['x_realtime']:.1f}x real time on {offline['threads']} threads")
    return 0


def _info(args: argparse.Namespace) -> int:
    from model.weights import read_config

    cfg, info = read_config(args.model)
    if args.json:
        print(json.dumps({"config": cfg.to_dict(), "info": info}, indent=2))
        return 0
    trained = info.get("trained", False)
    print(f"model: {info.get('name', Path(info['path']).name)} ({info['path']})")
    if not trained:
        print("status: UNTRAINED - random weights; stems will not be separated yet")
    else:
        print(f"status: trained ({info.get('steps', '?')} steps on {info.get('data', '?')})")
    print(
        f"latency: {cfg.latency_samples} samples = "
        f"{1000 * cfg.latency_samples / cfg.sample_rate:.1f} ms at {cfg.sample_rate} Hz"
    )
    print(f"stft: n_fft {cfg.n_fft}, hop {cfg.hop}; bands: {cfg.band_layout}")
    print(
        f"size: N={cfg.n_features}, blocks={cfg.n_blocks}, time LSTM {cfg.time_hidden}, "
        f"band BLSTM {cfg.band_hidden}x2, head MLP {cfg.head_hidden}"
    )
    residual = f" ({cfg.residual_stem} is the residual: the stems sum to the input)"
    print(f"stems: {', '.join(cfg.stems)}" + (residual if cfg.residual_stem else ""))
    for key in ("command", "metrics", "created"):
        if key in info:
            print(f"{key}: {info[key]}")
    print(f"sha256: {info.get('sha256')}")
    return 0
