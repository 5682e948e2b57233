"""`stemlive resamplebench`: the live resampler against soxr, in speed, delay and purity.

Purity comes from sine sweeps: one tone at a time through the resampler, a
Kaiser-windowed (beta 20, side lobes far below the levels measured) spectrum
of the steady output for the largest anything else (an alias or image, and
where it landed), and the tone's own level by a least-squares fit at its
frequency (passband ripple; a spectrum's peak would read its scalloping).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from realtime.resample import AUDIBLE_HZ, Resampler, filter_edges

FFT = 16384  # output samples analysed per tone
GUARD = 12  # bins either side of the tone that belong to it (the window's main lobe is ~6.4)
WINDOW_BETA = 20.0


@dataclass(frozen=True)
class Purity:
    """What a sine sweep found, levels in dB relative to the input tone."""

    ripple_db: float  # max - min of the tone's gain, 0..AUDIBLE_HZ (or the passband)
    gain_min_db: float
    gain_max_db: float
    alias_db: float  # the worst component besides the tone landing in 0..AUDIBLE_HZ
    alias_at_hz: float  # where it landed
    alias_from_hz: float  # the input tone that made it
    alias_any_db: float  # the worst anywhere (also above AUDIBLE_HZ)


def sweep(
    convert: Callable[[np.ndarray], np.ndarray], rate_in: int, rate_out: int, step_hz: float = 100.0
) -> Purity:
    """Tones every ``step_hz`` from 0 to just below rate_in / 2 through ``convert``.

    ``convert`` takes a (1, n) float32 block at rate_in and returns (1, m) at rate_out,
    starting afresh each call (one-shot).
    """
    passband, _ = filter_edges(rate_in, rate_out)
    top = min(AUDIBLE_HZ, passband)
    window = np.kaiser(FFT, WINDOW_BETA)
    scale = 2.0 / window.sum()  # a unit sine's peak reads 1
    skip = 4096  # output samples of start-up transient left out
    n_in = int((FFT + 2 * skip) * rate_in / rate_out) + 1
    t = np.arange(n_in) / rate_in
    freqs_out = np.fft.rfftfreq(FFT, 1.0 / rate_out)
    gains, alias, alias_any = [], (-np.inf, 0.0, 0.0), -np.inf
    for f in np.arange(step_hz / 2, rate_in / 2, step_hz):
        y = convert(np.sin(2 * np.pi * f * t)[None].astype(np.float32))[0, skip : skip + FFT]
        spec = scale * np.abs(np.fft.rfft(y * window))
        own = np.abs(freqs_out - f) <= GUARD * rate_out / FFT
        if f < rate_out / 2:
            if f <= top:
                gains.append(_tone_amplitude(y, f / rate_out))
            spec = np.where(own, 0.0, spec)
        i = int(np.argmax(spec))
        level = 20 * np.log10(max(spec[i], 1e-12))
        alias_any = max(alias_any, level)
        audible = freqs_out <= AUDIBLE_HZ
        j = int(np.argmax(np.where(audible, spec, 0.0)))
        level = 20 * np.log10(max(spec[j], 1e-12))
        if level > alias[0]:
            alias = (level, float(freqs_out[j]), float(f))
    g = 20 * np.log10(np.array(gains))
    return Purity(
        ripple_db=float(g.max() - g.min()),
        gain_min_db=float(g.min()),
        gain_max_db=float(g.max()),
        alias_db=float(alias[0]),
        alias_at_hz=alias[1],
        alias_from_hz=alias[2],
        alias_any_db=float(alias_any),
    )


def _tone_amplitude(y: np.ndarray, cycles_per_sample: float) -> float:
    """The amplitude of the sine of this frequency in ``y`` (least squares; no scalloping)."""
    w = 2 * np.pi * cycles_per_sample * np.arange(len(y))
    basis = np.stack([np.sin(w), np.cos(w)], 1)
    a, b = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)[0]
    return float(np.hypot(a, b))


def block_times(process: Callable[[np.ndarray], np.ndarray], rate: int, block: int, seconds: float):
    """Seconds per ``block``-frame stereo call, streaming noise: (median, p99)."""
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, block)).astype(np.float32)
    for _ in range(50):
        process(x)
    times = []
    for _ in range(int(seconds * rate / block)):
        t0 = time.perf_counter()
        process(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.percentile(times, 99))


def stream_shortfall(process: Callable[[np.ndarray], np.ndarray], rate_in, rate_out, block) -> int:
    """The most output samples a stream owed (behind ``inputs * out / in``) after any block."""
    x = np.zeros((2, block), np.float32)
    fed = made = worst = 0
    for _ in range(rate_in // block):
        made += process(x).shape[1]
        fed += block
        worst = max(worst, int(np.ceil(fed * rate_out / rate_in)) - made)
    return worst


def measured_delay(
    convert: Callable[[np.ndarray], np.ndarray], rate_in: int, rate_out: int, near: float = 0.0
) -> tuple[float, float]:
    """(delay in output samples, a fraction; gain) of a 1 kHz tone, from its phase.

    The phase gives the delay modulo one period (44.1 samples at 44.1 kHz): the one
    nearest ``near`` is returned.
    """
    f, n = 1000.0, rate_in
    x = np.sin(2 * np.pi * f * np.arange(n) / rate_in)[None].astype(np.float32)
    y = convert(x)[0].astype(np.float64)
    k = np.arange(len(y))[rate_out // 4 : 3 * rate_out // 4]  # steady, whole cycles
    w = 2 * np.pi * f / rate_out
    a, b = np.linalg.lstsq(np.stack([np.sin(w * k), np.cos(w * k)], 1), y[k], rcond=None)[0]
    # y = sin(w (k - d)) = cos(w d) sin(w k) - sin(w d) cos(w k)
    d = np.arctan2(-b, a) / w
    period = rate_out / f
    d = near + (d - near + period / 2) % period - period / 2
    return float(d), float(np.hypot(a, b))


def _soxr_stream(rate_in, rate_out, quality):
    import soxr

    rs = soxr.ResampleStream(rate_in, rate_out, 2, dtype="float32", quality=quality)
    return lambda x: np.ascontiguousarray(rs.resample_chunk(x.T).T)


def _soxr_once(rate_in, rate_out, quality):
    import soxr

    return lambda x: soxr.resample(x.T, rate_in, rate_out, quality=quality).T


def _ours_once(rate_in, rate_out):
    def convert(x):
        rs = Resampler(rate_in, rate_out, x.shape[0], max_block=x.shape[1])
        return rs(x)

    return convert


def measure(rate_in: int, rate_out: int, block: int, seconds: float) -> dict:
    """Every figure for ``rate_in -> rate_out``: ours, soxr LQ (the engine's before), soxr HQ."""
    rows = {}
    out_block = round(block * rate_out / rate_in)
    for name in ("stemlive", "soxr LQ", "soxr HQ"):
        if name == "stemlive":
            stream = Resampler
            once = _ours_once(rate_in, rate_out)
            rs = Resampler(rate_in, rate_out)
            stated = rs.delay_out_samples
        else:
            q = name.split()[1]
            stream = lambda a, b, q=q: _soxr_stream(a, b, q)  # noqa: E731
            once = _soxr_once(rate_in, rate_out, q)
            stated = 0.0  # soxr takes its filter's delay off; what it owes instead is bursts
        p50, p99 = block_times(stream(rate_in, rate_out), rate_in, block, seconds)
        delay, gain = measured_delay(once, rate_in, rate_out, near=stated)
        burst = stream_shortfall(stream(rate_in, rate_out), rate_in, rate_out, block)
        purity = sweep(once, rate_in, rate_out)
        rows[name] = {
            "block_median_us": round(1e6 * p50, 1),
            "block_p99_us": round(1e6 * p99, 1),
            "rtf": round(p50 * rate_in / block, 5),
            "delay_stated_samples": round(stated, 3),
            "delay_measured_samples": round(delay, 3),
            "delay_ms": round(1000 * delay / rate_out, 3),
            "burst_samples": burst,
            "latency_ms": round(1000 * (max(delay, 0.0) + burst) / rate_out, 3),
            "gain_1khz_db": round(20 * np.log10(gain), 5),
            **{k: round(v, 4) for k, v in asdict(purity).items()},
        }
    return {
        "rate_in": rate_in,
        "rate_out": rate_out,
        "block": block,
        "out_block": out_block,
        **rows,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "resamplebench",
        help="the live resampler against soxr: speed, delay, ripple, aliasing",
        description="Stereo blocks through the engine's streaming resampler and through soxr "
        "(LQ, what the engine used before, and HQ): per-block time, real-time factor, fixed "
        "delay, bursts, passband ripple to 20 kHz and the worst alias/image (sine sweeps).",
    )
    p.add_argument("--rate", type=int, default=48000, help="device rate (default 48000)")
    p.add_argument("--model-rate", type=int, default=44100, help="model rate (default 44100)")
    p.add_argument("--block", type=int, default=256, help="device block (default 256)")
    p.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="seconds of audio streamed for the timings (default 10)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from model.errors import StemliveError

    for r in (args.rate, args.model_rate):
        if not 8000 <= r <= 192000:
            raise StemliveError(f"rates must be 8000..192000 Hz, not {r}")
    if args.rate == args.model_rate:
        raise StemliveError("the rates agree: nothing is resampled (the resampler is identity)")
    if not 16 <= args.block <= 4096:
        raise StemliveError(f"block must be 16..4096 frames, not {args.block}")
    out_block = round(args.block * args.model_rate / args.rate)
    results = [
        measure(args.rate, args.model_rate, args.block, args.seconds),
        measure(args.model_rate, args.rate, out_block, args.seconds),
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for res in results:
        print(f"{res['rate_in']} -> {res['rate_out']} Hz, blocks of {res['block']}, stereo")
        names = [n for n in res if n.startswith(("stemlive", "soxr"))]
        print(f"  {'':26s}" + "".join(f"{n:>14s}" for n in names))
        for key in res[names[0]]:
            print(f"  {key:26s}" + "".join(f"{res[n][key]:>14}" for n in names))
    return 0
