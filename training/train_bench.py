"""`stemlive train --benchmark`: how much a training config learns from per CPU-hour.

Steps per hour, seconds of (stereo) audio per hour, FLOPs per step and the
split of a step's time between data, forward (with loss) and backward
(with clipping and the optimizer step). FLOPs are counted from the model's
multiply-accumulates per frame (2 FLOPs each; backward taken as twice the
forward), since the CPU LSTM kernels are invisible to operator counters.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import torch

from model.bsrnn import BSRNN
from training.losses import SeparationLoss
from training.train import SeparationNet, TrainConfig, to_items
from training.train_data import Corpus, Prefetcher


def flops_per_step(cfg: TrainConfig) -> float:
    model = BSRNN(cfg.model)
    frames = (
        int(cfg.data.segment_seconds * cfg.model.sample_rate) // cfg.model.hop
        + cfg.model.n_fft // cfg.model.hop
    )
    items = 2 * cfg.data.batch_size
    return 3 * 2 * sum(model.macs_per_frame().values()) * frames * items


def benchmark(cfg: TrainConfig, steps: int = 5, warmup: int = 2) -> dict:
    """Time ``steps`` training steps after ``warmup``; returns rates and the time split."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    model = BSRNN(cfg.model)
    net = SeparationNet(model, cfg.bf16)
    loss_fn = SeparationLoss(cfg.loss, net.stft)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    corpus = Corpus(cfg.data.root, "train", max_songs=cfg.data.max_songs or 16)
    data = Prefetcher(corpus, cfg.data, 0, cfg.workers)
    t_data, t_fwd, t_bwd, losses = [], [], [], []
    try:
        for i in range(warmup + steps):
            if i == warmup:
                cpu0, wall0 = time.process_time(), time.perf_counter()
            t0 = time.perf_counter()
            _, batch = data.next()
            mix, targets = to_items(batch)
            t1 = time.perf_counter()
            est_spec, est_wave, _ = net(mix, None, batch.shape[2])
            loss, _ = loss_fn(est_spec, est_wave, targets)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            t3 = time.perf_counter()
            if i >= warmup:
                t_data.append(t1 - t0)
                t_fwd.append(t2 - t1)
                t_bwd.append(t3 - t2)
                losses.append(loss.item())
        # CPU seconds per step: what a step costs when the core is not shared with others.
        cpu_s = (time.process_time() - cpu0) / steps
        wall_s = (time.perf_counter() - wall0) / steps
    finally:
        data.close()
    step_s = float(np.mean(t_data) + np.mean(t_fwd) + np.mean(t_bwd))
    flops = flops_per_step(cfg)
    return {
        "config": {
            "preset_n_fft": cfg.model.n_fft,
            "model": cfg.model.to_dict(),
            "segment_seconds": cfg.data.segment_seconds,
            "batch_size": cfg.data.batch_size,
            "bf16": cfg.bf16,
            "threads": cfg.threads,
            "workers": cfg.workers,
            "loss": asdict(cfg.loss),
        },
        "parameters": model.parameter_count(),
        "step_seconds": step_s,
        "cpu_seconds_per_step": cpu_s,
        "cpu_share": cpu_s / wall_s,
        "steps_per_cpu_hour": 3600 / cpu_s,
        "steps_per_hour": 3600 / step_s,
        "audio_seconds_per_hour": 3600 / step_s * cfg.data.batch_size * cfg.data.segment_seconds,
        "gflops_per_step": flops / 1e9,
        "gflops_per_second": flops / 1e9 / step_s,
        "split": {
            "data": float(np.mean(t_data)) / step_s,
            "forward": float(np.mean(t_fwd)) / step_s,
            "backward": float(np.mean(t_bwd)) / step_s,
        },
        "loss": float(np.mean(losses)),
    }


def format_row(r: dict) -> str:
    c = r["config"]
    s = r["split"]
    return (
        f"seg {c['segment_seconds']:.1f}s x b{c['batch_size']} bf16={c['bf16']} "
        f"head={c['model']['head_hidden']} thr={c['threads']} wk={c['workers']}: "
        f"{r['step_seconds']:.2f} s/step (cpu {r['cpu_seconds_per_step']:.2f}), "
        f"{r['steps_per_hour']:.0f} steps/h, "
        f"{r['audio_seconds_per_hour']:.0f} audio-s/h, {r['gflops_per_step']:.1f} GFLOP/step "
        f"({r['gflops_per_second']:.1f} GFLOP/s); data {100 * s['data']:.0f}% "
        f"fwd {100 * s['forward']:.0f}% bwd {100 * s['backward']:.0f}%"
    )
