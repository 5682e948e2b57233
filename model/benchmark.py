"""Speed of the Separator: streaming per hop on one thread, and the offline path."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from model.separator import Separator


def bench_streaming(sep: Separator, seconds: float = 10.0, channels: int = 2) -> dict[str, Any]:
    """Time ``process()`` hop by hop on one thread: median/p99 per hop and real-time factor."""
    torch.set_num_threads(1)
    hop = sep.hop_size
    sep.prepare(sep.sample_rate, hop, channels)
    rng = np.random.default_rng(0)
    n_hops = max(8, int(seconds * sep.sample_rate / hop))
    audio = (0.1 * rng.standard_normal((channels, (n_hops + 20) * hop))).astype(np.float32)
    for i in range(20):  # warm-up: first calls allocate and tune
        sep.process(audio[:, i * hop : (i + 1) * hop])
    times = np.empty(n_hops)
    for i in range(n_hops):
        block = audio[:, (i + 20) * hop : (i + 21) * hop]
        t0 = time.perf_counter()
        sep.process(block)
        times[i] = time.perf_counter() - t0
    hop_s = hop / sep.sample_rate
    macs = sep.model.macs_per_frame()
    total_macs = sum(macs.values()) * channels * sep.sample_rate / hop
    return {
        "hop_samples": hop,
        "hop_ms": 1000 * hop_s,
        "median_ms": 1000 * float(np.median(times)),
        "p99_ms": 1000 * float(np.percentile(times, 99)),
        "max_ms": 1000 * float(times.max()),
        "rtf": float(times.sum() / (n_hops * hop_s)),
        "rtf_median": float(np.median(times) / hop_s),
        "latency_samples": sep.latency_samples,
        "latency_ms": 1000 * sep.latency_samples / sep.sample_rate,
        "parameters": sep.model.parameter_count(),
        "gmac_per_s": total_macs / 1e9,
        "macs_per_frame": macs,
        "channels": channels,
        "audio_seconds": n_hops * hop_s,
    }


def profile_step(sep: Separator, repeats: int = 300) -> dict[str, float]:
    """Median milliseconds of each part of one streamed hop (stereo, one thread)."""
    torch.set_num_threads(1)
    m = sep.model
    frame = torch.randn(2, sep.n_fft)
    spec = torch.fft.rfft(frame)
    state = m.init_state(2)

    def med(fn) -> float:
        for _ in range(10):
            fn()
        t = np.empty(repeats)
        for i in range(repeats):
            t0 = time.perf_counter()
            fn()
            t[i] = time.perf_counter() - t0
        return 1000 * float(np.median(t))

    with torch.inference_mode():
        x = torch.view_as_real(spec.unsqueeze(-1).transpose(1, 2))
        h = m.split(x)
        masks, _ = m.step(spec, state)
        parts = {
            "fft+ifft": med(lambda: torch.fft.irfft(masks * torch.fft.rfft(frame)[:, None])),
            "band_split": med(lambda: m.split(x)),
            "time_lstm (all blocks)": len(m.blocks) * med(lambda: m.blocks[0].time(h, state[0])),
            "band_lstm (all blocks)": len(m.blocks) * med(lambda: m.blocks[0].band(h)),
            "mask_heads": med(lambda: m.heads(h)),
        }
        parts["whole model step"] = med(lambda: m.step(spec, state))
    return parts


def bench_offline(sep: Separator, seconds: float = 30.0, threads: int | None = None) -> dict:
    """Speed of ``separate()`` on a stereo signal, as multiples of real time."""
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal((2, int(seconds * sep.sample_rate)))).astype(np.float32)
    sep.separate(audio[:, : sep.sample_rate])  # warm-up
    t0 = time.perf_counter()
    sep.separate(audio)
    elapsed = time.perf_counter() - t0
    return {"threads": torch.get_num_threads(), "x_realtime": seconds / elapsed}
