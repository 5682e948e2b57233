"""The training loop: remixed batches, L1 STFT + waveform loss, Adam, validation SDR, exact resume.

A run lives in a folder: ``config.json`` (TrainConfig), ``last.pt`` (full
checkpoint), ``log.csv`` (per logged step), ``curve.csv``/``curve.png``
(validation SDR per stem vs. wall-clock minutes) and ``baselines.json``.
Under ``torchrun`` the same loop runs DistributedDataParallel (gloo on CPU,
NCCL on CUDA); rank 0 validates, logs and checkpoints.

Axes: b batch item (a channel of a song), s stem, c channel, f bin, t frame, n sample.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from model.bsrnn import BSRNN, State
from model.config import ModelConfig
from model.errors import StemliveError
from model.level import frame_gains
from model.stft import CausalSTFT
from training import curve
from training.checkpoint import FULL_NAME, load_compact, load_full, save_compact, save_full
from training.evaluate_metrics import sdr
from training.losses import LossConfig, SeparationLoss
from training.train_data import STEMS, Corpus, DataConfig, Prefetcher

SILENT_RMS = 1e-4  # -80 dBFS: a validation stem this quiet has no SDR (as in training.evaluate)
# A run whose first this-many steps all have a loss and gradient of exactly zero learns
# nothing (silent batches): it stops rather than train on for hours.
ZERO_STEPS = 10


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run, saved as the run folder's ``config.json``."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig.preset("standard"))
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    lr: float = 1e-3
    warmup_steps: int = 100
    lr_decay: float = 0.9  # multiplied into the learning rate every ``lr_decay_every`` steps
    lr_decay_every: int = 2000
    clip: float = 5.0
    # Exponential moving average of the weights (0: off), e.g. 0.999: validation,
    # ``best`` and exports use the average, which is less noisy than the last step.
    ema: float = 0.0
    bf16: bool = False  # bf16 autocast of the network (STFT and loss stay fp32)
    threads: int = 1
    workers: int = 1  # data worker processes (0: batches made inline)
    max_steps: int = 0  # 0: no limit
    max_minutes: float = 0.0  # 0: no limit (counts training time across resumes)
    valid_every: int = 200  # steps between validations
    valid_songs: int = 6
    valid_seconds: float = 12.0
    valid_root: str = ""  # validate on valid_root/valid ("": the training corpus's valid split)
    checkpoint_minutes: float = 10.0
    # Every this many steps a compact checkpoint in run/steps/<step> (0: none), to score the
    # run's steps on real music afterwards: the validation split picks "best" on generated
    # songs only.
    keep_every: int = 0
    patience: int = 0  # early stop after this many validations without improvement (0: off)
    log_every: int = 10

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["loss"]["mrstft_ffts"] = list(self.loss.mrstft_ffts)
        d["loss"]["stem_weights"] = list(self.loss.stem_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise StemliveError(f"unknown training config keys {unknown}")
        if "model" in d:
            d["model"] = ModelConfig.from_dict(d["model"])
        if "data" in d:
            d["data"] = DataConfig(**d["data"])
        if "loss" in d:
            loss = dict(d["loss"])
            loss["mrstft_ffts"] = tuple(loss.get("mrstft_ffts", ()))
            loss["stem_weights"] = tuple(loss.get("stem_weights", ()))
            d["loss"] = LossConfig(**loss)
        return cls(**d)


class SeparationNet(nn.Module):
    """The BSRNN with its STFT: mixture waves -> estimated stem spectra and waves.

    A module of its own so that DDP wraps one ``forward``; with ``bf16`` only
    the network runs under autocast (complex STFT tensors have no bf16 type).
    """

    def __init__(self, model: BSRNN, bf16: bool = False) -> None:
        super().__init__()
        self.model, self.bf16 = model, bf16
        self.stft = CausalSTFT(model.cfg.n_fft, model.cfg.hop)

    def forward(
        self, mix: Tensor, state: State | None = None, channels: int | None = None
    ) -> tuple[Tensor, Tensor, State]:
        """(b, n) -> ((b, s, f, t) complex, (b, s, n), the LSTM state after the last frame).

        ``state``: the state after the previous segment of the same mixtures (None: silence).
        ``channels``: the items are mixtures of this many consecutive channels.
        """
        spec = self.stft.analyse(mix)
        if self.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                masks, new_state = self.model.real_masks(
                    torch.view_as_real(spec.transpose(1, 2)), state, channels
                )
            masks = torch.view_as_complex(masks.float().contiguous())
        else:
            masks, new_state = self.model(spec, state, channels)
        est_spec = masks * spec[:, None]
        return est_spec, self.stft.synthesise(est_spec, mix.shape[-1]), new_state


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then a step-wise exponential decay (resumable: a function of the step).

    A run of fewer than five warm-ups' steps warms up over its first fifth, so that a short
    run (a smoke test, a first try) trains at its learning rate for most of its steps.
    """
    warmup = cfg.warmup_steps
    if cfg.max_steps:
        warmup = min(warmup, max(1, cfg.max_steps // 5))
    warm = min(1.0, (step + 1) / max(1, warmup))
    return warm * cfg.lr_decay ** (step // max(1, cfg.lr_decay_every))


def to_items(batch) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """(b, s, c, n) stems -> mixture (b c, n) and targets (b c, s, n).

    A tuple (stems, residual (b, c, n), known (b, s)) from semi-supervised data
    also gives which targets are known, (b c, s), and puts the residual in the mix.
    """
    if isinstance(batch, tuple):
        stems, resid, known = (torch.from_numpy(a) for a in batch)
        mix, targets = to_items(stems.numpy())
        c = stems.shape[2]
        return mix + resid.reshape(-1, resid.shape[-1]), targets, known.repeat_interleave(c, 0)
    x = torch.from_numpy(batch)
    b, s, c, n = x.shape
    targets = x.permute(0, 2, 1, 3).reshape(b * c, s, n)
    return targets.sum(1), targets


# -- validation -----------------------------------------------------------------


@torch.no_grad()
def separate_items(model: BSRNN, mix: Tensor) -> Tensor:
    """Whole-sequence causal separation (equal to streaming): (c, n) -> (s, c, n)."""
    cfg = model.cfg
    stft = CausalSTFT(cfg.n_fft, cfg.hop)
    spec = stft.analyse(mix)
    gains = frame_gains(cfg, mix.numpy())  # as the separator hands its input to the network
    masks, _ = model(spec if gains is None else spec * torch.from_numpy(gains))
    return stft.synthesise(masks * spec[:, None], mix.shape[-1]).transpose(0, 1)


def validation_set(cfg: TrainConfig, corpus: Corpus) -> list[np.ndarray]:
    """The first ``valid_seconds`` of each validation song: (s, c, n) float32 stems.

    A set on which a stem is silent in every song is refused (its score would be NaN).
    """
    n = int(cfg.valid_seconds * corpus.sample_rate)
    songs = [
        np.stack([st[:, :n] for st in x]).astype(np.float32) / 32768.0
        for x in corpus.songs[: cfg.valid_songs]
    ]
    _check_scorable(cfg, corpus, songs)
    return songs


def validation_fingerprint(songs: list[np.ndarray]) -> str:
    """SHA-256 (16 hex digits) of the validation stems: which songs a curve point was measured on.

    A corpus regenerated by a changed generator has the same song names but other
    audio; only the samples tell whether two SDRs are comparable.
    """
    import hashlib

    h = hashlib.sha256()
    for stems in songs:
        h.update(str(stems.shape).encode())
        h.update(np.ascontiguousarray(stems, np.float32).tobytes())
    return h.hexdigest()[:16]


def unscored_stems(songs: list[np.ndarray]) -> list[str]:
    """The stems silent in every validation song: the validation SDR of these is NaN."""
    return [
        s
        for i, s in enumerate(STEMS)
        if not any(np.sqrt(np.mean(stems[i] ** 2)) >= SILENT_RMS for stems in songs)
    ]


def validate(model: BSRNN, songs: list[np.ndarray]) -> dict[str, float]:
    """Mean over songs of the whole-track SDR per stem."""
    was_training = model.training
    model.eval()
    scores = {s: [] for s in STEMS}
    for stems in songs:
        est = separate_items(model, torch.from_numpy(stems.sum(0))).numpy()
        for i, s in enumerate(STEMS):
            if np.sqrt(np.mean(stems[i] ** 2)) >= SILENT_RMS:  # a silent stem has no SDR
                scores[s].append(sdr(stems[i], est[i]))
    model.train(was_training)
    out = {s: float(np.mean(v)) if v else float("nan") for s, v in scores.items()}
    out["mean"] = float(np.mean([out[s] for s in STEMS]))
    return out


def reference_baselines(songs: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Mixture and gain-only oracle SDR on the validation songs (the lines a model must clear)."""
    from training.baselines import gain_only

    out: dict[str, dict[str, float]] = {"mixture": {}, "gain_only": {}}
    for i, s in enumerate(STEMS):
        mix_scores, gain_scores = [], []
        for stems in songs:
            mix = stems.sum(0)
            if np.sqrt(np.mean(stems[i] ** 2)) < SILENT_RMS:
                continue
            mix_scores.append(sdr(stems[i], mix))
            gain_scores.append(sdr(stems[i], gain_only(mix, stems[i])))
        out["mixture"][s] = float(np.mean(mix_scores))
        out["gain_only"][s] = float(np.mean(gain_scores))
    for v in out.values():
        v["mean"] = float(np.mean([v[s] for s in STEMS]))
    return out


# -- distributed ------------------------------------------------------------------


def _dist_setup() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def dist_teardown() -> None:
    """Destroy the process group (under torchrun) before the interpreter exits: left to exit,
    gloo's worker threads can abort the process ("terminate called without an active
    exception", pytorch/pytorch#190489)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- the loop ---------------------------------------------------------------------


def _widens(old: nn.Module, new: nn.Module) -> bool:
    """Whether the trunk residual ``new`` is ``old`` with more LSTM units (same features)."""
    return (
        old.rnn.input_size == new.rnn.input_size
        and old.rnn.bidirectional == new.rnn.bidirectional
        and new.rnn.hidden_size > old.rnn.hidden_size
    )


@torch.no_grad()
def _widen(old: nn.Module, new: nn.Module) -> None:
    """Put ``old``'s LSTM units first in ``new``, gate by gate and direction by direction.

    The added units keep their fresh input and recurrent weights, so they run and
    get gradients, but nothing reads them yet: the old units' recurrent weights from
    them and the projection's columns for them are zero. With the norm and the
    projection's bias (their shapes unchanged, copied with the matching tensors)
    ``new`` computes what ``old`` did.
    """
    ho, hn = old.rnn.hidden_size, new.rnn.hidden_size
    for d, suffix in enumerate(("", "_reverse") if new.rnn.bidirectional else ("",)):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            src = getattr(old.rnn, f"{name}_l0{suffix}")
            dst = getattr(new.rnn, f"{name}_l0{suffix}")
            for g in range(4):  # PyTorch's gate blocks: input, forget, cell, output
                rows = slice(g * hn, g * hn + ho)
                if name == "weight_hh":
                    dst[rows, :ho] = src[g * ho : (g + 1) * ho]
                    dst[rows, ho:] = 0.0
                else:
                    dst[rows] = src[g * ho : (g + 1) * ho]
        new.proj.weight[:, d * hn : d * hn + ho] = old.proj.weight[:, d * ho : (d + 1) * ho]
        new.proj.weight[:, d * hn + ho : (d + 1) * hn] = 0.0


class Trainer:
    """One run: builds or resumes the model, optimizer and schedule, and trains."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        resume_from: Path | None = None,
        command: str = "",
        log=print,
        init_weights: Path | None = None,
        all_songs: bool = False,
    ) -> None:
        self.cfg, self.run_dir, self.command, self.log = cfg, Path(run_dir), command, log
        self.rank, self.world = _dist_setup()
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.data.seed)
        model_cfg = cfg.model
        if cfg.data.input_level_db:  # items at this level: the separator must hand it so
            model_cfg = replace(model_cfg, input_level_db=cfg.data.input_level_db)
        self.model = BSRNN(model_cfg)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(cfg, s)
        )
        self.step = 0
        self.train_seconds = 0.0
        self.curve: list[dict] = []
        self.best = -math.inf
        self.bad_evals = 0
        self.song_names: list[str] | None = None
        self.valid_fingerprint: str | None = None
        self.resumed_from = ""
        self.interrupted = False  # run() ended on Ctrl-C or SIGTERM (after saving)
        self.carry: State | None = None  # the state carried to the next segment
        if cfg.data.carry_segments > 1 and self.world > 1:
            raise StemliveError("carried segments (carry_segments > 1) work with one process")
        self._ema_state: dict | None = None
        full = self.run_dir / FULL_NAME
        if resume_from is None and full.is_file():
            resume_from = full
        if resume_from is not None:
            self._resume(Path(resume_from))
        elif init_weights is not None:  # fine-tuning or a warm start: a fresh run
            self._init_from(Path(init_weights))
        self.ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            # Starts as a copy of the (resumed or initial) weights.
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema))
            if self._ema_state is not None:
                self.ema.load_state_dict(self._ema_state)
        if all_songs and self.song_names is not None:
            # A grown corpus: every complete song on disk, not the run's saved list.
            self.log(f"training on every song in {cfg.data.root}/train, not the run's list")
            self.song_names = None
        self.train_corpus = Corpus(
            cfg.data.root, "train", self.song_names, max_songs=cfg.data.max_songs
        )
        self.song_names = self.train_corpus.names
        if self.train_corpus.sample_rate != cfg.model.sample_rate:
            raise StemliveError(
                f"the corpus is at {self.train_corpus.sample_rate} Hz, the model at "
                f"{cfg.model.sample_rate} Hz"
            )
        self.net = SeparationNet(self.model, cfg.bf16)
        self.ddp = self.net
        if self.world > 1:
            self.ddp = nn.parallel.DistributedDataParallel(self.net)
        self.loss_fn = SeparationLoss(cfg.loss, self.net.stft)
        self.valid: list[np.ndarray] = []
        self.baselines: dict = {}
        if self.rank == 0 and cfg.valid_songs:
            self.valid = validation_set(cfg, Corpus(cfg.valid_root or cfg.data.root, "valid"))
            self.baselines = reference_baselines(self.valid)
            self._check_valid_set(validation_fingerprint(self.valid))

    def _check_valid_set(self, fingerprint: str) -> None:
        """Re-measure the resumed weights when the curve so far was measured on other songs.

        Otherwise the next validation would be compared with a best score from
        different audio, and the curve would silently mix the two sets.
        """
        before, self.valid_fingerprint = self.valid_fingerprint, fingerprint
        if not self.curve or before == fingerprint:
            return
        self.log(
            f"the validation songs in {self.cfg.valid_root or self.cfg.data.root}/valid "
            f"(fingerprint {fingerprint}) "
            f"are not those the curve was measured on ({before or 'not recorded'}): "
            f"re-measuring step {self.step} on them; the best score restarts from there"
        )
        scores = validate(self.weights, self.valid)
        last = self.curve[-1]
        self.curve.append(
            {
                **{k: last[k] for k in ("train_minutes", "audio_hours") if k in last},
                "step": self.step,
                "train_loss": float("nan"),
                **{f"sdr_{k}": v for k, v in scores.items()},
                "valid_set": fingerprint,
            }
        )
        self.best, self.bad_evals = scores["mean"], 0
        self.log(f"valid step {self.step} re-measured: {_fmt(scores)}")

    # resume ---------------------------------------------------------------------

    def _resume(self, path: Path) -> None:
        if path.is_dir():  # a compact (committed) checkpoint: weights + counters only
            model, state = load_compact(path)
            if model.cfg.network != self.cfg.model.network:
                raise StemliveError(f"{path} holds a different model config than this run")
            self.model.load_state_dict(model.state_dict())
            self._load_counters(state)
            # Restart Adam's moments with a short warm-up from the resumed step.
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer,
                lambda s, s0=self.step: lr_factor(self.cfg, s) * min(1.0, (s - s0 + 1) / 50),
            )
            with warnings.catch_warnings():  # fast-forwarding the schedule, not stepping early
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(self.step):
                    self.scheduler.step()
            self.resumed_from = str(path)
            self.log(f"resumed from compact checkpoint {path} at step {self.step}")
            return
        ck = load_full(path)
        if ModelConfig.from_dict(ck["config"]["model"]).network != self.cfg.model.network:
            raise StemliveError(f"{path} holds a different model config than this run")
        self.model.load_state_dict(ck["model"])
        self._ema_state = ck.get("ema")
        self.carry = ck.get("carry")
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        if ck["config"]["lr"] != self.cfg.lr:  # a new base rate asked for on resume
            self.scheduler.base_lrs = [self.cfg.lr for _ in self.optimizer.param_groups]
            for group in self.optimizer.param_groups:
                group["lr"] = self.cfg.lr * lr_factor(self.cfg, self.scheduler.last_epoch)
        torch.set_rng_state(ck["torch_rng"])
        self._load_counters(ck["state"])
        self.resumed_from = str(path)
        self.log(f"resumed from {path} at step {self.step}")

    def _init_from(self, path: Path) -> None:
        """Start from trained weights: all of them for the same config, else a warm start.

        A warm start (e.g. the low-latency preset from the standard model: the same
        bands and trunk, other FFT sizes) copies every tensor whose name and shape
        match and leaves the rest (band split, mask outputs) freshly initialised.
        Trunk blocks added after the copied ones (a deeper model grown from a
        shallower one) start with a zero output projection: each adds nothing
        until trained, so the grown model starts as the same separator. Wider
        trunk LSTMs (more time or band hidden units) take the old units and add
        units that nothing reads yet (``_widen``): the same separator again.
        """
        from model.weights import load_model

        start, _ = load_model(path)
        if start.cfg == self.cfg.model:
            self.model.load_state_dict(start.state_dict())
            return
        own = self.model.state_dict()
        taken = {
            k: v for k, v in start.state_dict().items() if k in own and own[k].shape == v.shape
        }
        if not taken:
            raise StemliveError(f"{path}: no tensor matches this run's model config")
        self.model.load_state_dict(taken, strict=False)
        for block in self.model.blocks[start.cfg.n_blocks :]:
            for part in (block.time, block.band):
                nn.init.zeros_(part.proj.weight)
                nn.init.zeros_(part.proj.bias)
        widened = []
        for i, (block, old) in enumerate(zip(self.model.blocks, start.blocks, strict=False)):
            for axis in ("time", "band"):
                if _widens(getattr(old, axis), getattr(block, axis)):
                    _widen(getattr(old, axis), getattr(block, axis))
                    widened.append(f"blocks.{i}.{axis}")
        n_taken = sum(v.numel() for v in taken.values())
        n_all = sum(v.numel() for v in own.values())
        fresh = sorted(
            {
                k.split(".")[0] + "." + k.split(".")[1]
                for k in own
                if k not in taken and not k.startswith(tuple(w + "." for w in widened))
            }
        )
        self.log(
            f"warm start from {path}: {len(taken)}/{len(own)} tensors, "
            f"{n_taken / n_all:.0%} of the parameters; fresh: {', '.join(fresh) or 'none'}"
            + (f"; widened: {', '.join(widened)}" if widened else "")
        )

    def _load_counters(self, state: dict) -> None:
        self.step = int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        self.curve = list(state.get("curve", []))
        self.best = float(state.get("best", -math.inf))
        self.bad_evals = int(state.get("bad_evals", 0))
        self.song_names = state.get("song_names")
        self.valid_fingerprint = state.get("valid_fingerprint")

    @property
    def weights(self) -> BSRNN:
        """The weights a run is judged and shipped by: the moving average if on, else the model."""
        return self.model if self.ema is None else self.ema.module

    def counters(self) -> dict:
        return {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "curve": self.curve,
            "best": self.best,
            "bad_evals": self.bad_evals,
            "song_names": self.song_names,
            "valid_fingerprint": self.valid_fingerprint,
            "config": self.cfg.to_dict(),
            "baselines": self.baselines,
        }

    def save(self) -> None:
        """Full checkpoint (exact resume) to ``last.pt``."""
        if self.rank != 0:
            return
        save_full(
            self.run_dir / FULL_NAME,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
                **({"carry": self.carry} if self.carry is not None else {}),
                "state": self.counters(),
                "config": self.cfg.to_dict(),
            },
        )

    def info(self) -> dict:
        """What a weights folder's config.json says about how these weights came to be."""
        last = self.curve[-1] if self.curve else {}
        return {
            "trained": self.step > 0,
            "data": f"{self.cfg.data.root} ({len(self.song_names or [])} train songs, "
            f"{self.train_corpus.seconds() / 3600:.2f} h)",
            "steps": self.step,
            "time": f"{self.train_seconds / 3600:.2f} h on {self.world}x{self.cfg.threads} threads",
            "metrics": {"valid_sdr": {k[4:]: v for k, v in last.items() if k.startswith("sdr_")}},
            "baselines": self.baselines,
            "command": self.command,
        }

    # one step -------------------------------------------------------------------

    def train_step(self, batch: np.ndarray) -> dict[str, float]:
        """Forward, backward, clip, Adam, schedule: returns the loss parts and timings."""
        mix, targets, *known = to_items(batch)
        channels = (batch[0] if isinstance(batch, tuple) else batch).shape[2]
        t0 = time.perf_counter()
        # Carried segments continue the previous step's mixtures from its final state
        # (truncated backpropagation through time: the state is a constant here).
        k = self.cfg.data.carry_segments
        carry = self.carry if k > 1 and self.step % k else None
        est_spec, est_wave, state = self.ddp(mix, carry, channels)
        if k > 1:
            self.carry = [(h.detach(), c.detach()) for h, c in state]
        loss, parts = self.loss_fn(est_spec, est_wave, targets, *known)
        t1 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip))
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        t2 = time.perf_counter()
        self.step += 1
        # The loss over the targets' mean level: batches differ in loudness by several times,
        # which hides a falling loss in the raw numbers of a short run.
        rel = loss.item() / max(float(targets.abs().mean()), 1e-9)
        return {
            "loss": loss.item(), "rel": rel, **parts, "grad_norm": grad,
            "t_fwd": t1 - t0, "t_bwd": t2 - t1,
        }  # fmt: skip

    # the run --------------------------------------------------------------------

    def run(self) -> dict:
        """Train until max_steps / max_minutes / early stop; returns the last validation."""
        cfg = self.cfg
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
            (self.run_dir / "baselines.json").write_text(json.dumps(self.baselines, indent=2))
            self.log(
                f"run {self.run_dir}: {self.model.parameter_count():,} parameters, "
                f"{len(self.train_corpus)} train songs "
                f"({self.train_corpus.seconds() / 60:.1f} min), {len(self.valid)} valid songs; "
                f"world {self.world}; step {self.step}"
            )
            self.log("gain-only baseline (valid SDR): " + _fmt(self.baselines.get("gain_only", {})))
        # Data index of (step, rank): each process sees its own batches, resumable by step.
        data = Prefetcher(
            self.train_corpus, cfg.data, self.step * self.world + self.rank, cfg.workers
        )
        data_stride = self.world
        on_term = None
        if threading.current_thread() is threading.main_thread():
            on_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        log_file = (self.run_dir / "log.csv").open("a") if self.rank == 0 else None
        if log_file is not None and log_file.tell() == 0:
            log_file.write("step,train_minutes,lr,loss,spec,wave,grad_norm,t_data,t_fwd,t_bwd\n")
        last_ck = time.monotonic()
        acc: list[float] = []
        rels: list[float] = []
        first_step, all_zero = self.step, True
        result: dict = self.curve[-1] if self.curve else {}
        try:
            while True:
                if cfg.max_steps and self.step >= cfg.max_steps:
                    break
                if cfg.max_minutes and self.train_seconds >= 60 * cfg.max_minutes:
                    break
                t0 = time.perf_counter()
                # Skip the batches of other ranks (the worker makes consecutive indices).
                _, batch = data.next()
                for _ in range(data_stride - 1):
                    data.next()
                t_data = time.perf_counter() - t0
                out = self.train_step(batch)
                self.train_seconds += time.perf_counter() - t0
                acc.append(out["loss"])
                rels.append(out["rel"])
                if log_file is not None and self.step % cfg.log_every == 0:
                    log_file.write(
                        f"{self.step},{self.train_seconds / 60:.3f},"
                        f"{self.scheduler.get_last_lr()[0]:.3g},{out['loss']:.5f},"
                        f"{out['spec']:.5f},{out['wave']:.5f},{out['grad_norm']:.3f},"
                        f"{t_data:.3f},{out['t_fwd']:.3f},{out['t_bwd']:.3f}\n"
                    )
                    log_file.flush()
                    self.log(
                        f"step {self.step} {self.train_seconds / 60:.1f} min loss "
                        f"{np.mean(acc[-cfg.log_every :]):.4f} "
                        f"(relative {np.mean(rels[-cfg.log_every :]):.3f}) "
                        f"grad {out['grad_norm']:.3g} "
                        f"({t_data:.2f}+{out['t_fwd']:.2f}+{out['t_bwd']:.2f} s)"
                    )
                if all_zero and self.step - first_step <= ZERO_STEPS:
                    all_zero = out["loss"] == 0.0 and out["grad_norm"] == 0.0
                    if all_zero and self.step - first_step == ZERO_STEPS:
                        raise StemliveError(
                            f"the first {ZERO_STEPS} steps (to step {self.step}) had a loss and "
                            "gradient of exactly zero: the training batches from "
                            f"{cfg.data.root}/train are silence, and nothing would be learned. "
                            "Check that the stem files hold audio"
                        )
                stop = False
                if self.valid and cfg.valid_every and self.step % cfg.valid_every == 0:
                    result = self._validate(acc)
                    acc = []
                    stop = bool(cfg.patience and self.bad_evals >= cfg.patience)
                if self.rank == 0 and cfg.keep_every and self.step % cfg.keep_every == 0:
                    folder = self.run_dir / "steps" / str(self.step)
                    save_compact(folder, self.weights, self.info(), self.counters())
                if time.monotonic() - last_ck > 60 * cfg.checkpoint_minutes:
                    self.save()
                    last_ck = time.monotonic()
                stop = self._agree(stop)
                if stop:
                    self.log(f"early stop: {cfg.patience} validations without improvement")
                    break
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was learned, then stop
            self.log(f"interrupted at step {self.step}; saving the checkpoint")
            self.interrupted = True
        finally:
            if on_term is not None:
                signal.signal(signal.SIGTERM, on_term)
            data.close()
            if log_file is not None:
                log_file.close()
        self.save()
        # Every process says what it holds: under DDP the digests must agree.
        self.log(f"rank {self.rank}/{self.world} step {self.step} weights {digest(self.model)}")
        return result

    def _agree(self, stop: bool) -> bool:
        """Every process stops together (rank 0 decides)."""
        if self.world == 1:
            return stop
        import torch.distributed as dist

        flag = torch.tensor([int(stop)])
        dist.broadcast(flag, 0)
        return bool(flag.item())

    def _validate(self, acc: list[float]) -> dict:
        scores = validate(self.weights, self.valid)
        bad = [s for s in STEMS if not math.isfinite(scores[s])]
        if bad:
            # The set was checked to score every stem: the model's output is not finite.
            raise StemliveError(
                f"validation at step {self.step} gave no score for {', '.join(bad)}: the "
                f"model's output is not finite (training loss {np.mean(acc or [np.nan]):.4g}); "
                "the run stops without saving this step. Resume it with a lower --lr"
            )
        row = {
            "step": self.step,
            "train_minutes": self.train_seconds / 60,
            "audio_hours": self.step
            * self.world
            * self.cfg.data.batch_size
            * self.cfg.data.segment_seconds
            / 3600,
            "train_loss": float(np.mean(acc)) if acc else float("nan"),
            **{f"sdr_{k}": v for k, v in scores.items()},
            "valid_set": self.valid_fingerprint,
        }
        self.curve.append(row)
        improved = scores["mean"] > self.best
        if improved:
            self.best, self.bad_evals = scores["mean"], 0
            save_compact(self.run_dir / "best", self.weights, self.info(), self.counters())
        else:
            self.bad_evals += 1
        curve.write_csv(self.run_dir / "curve.csv", self.curve)
        curve.plot(
            self.run_dir / "curve.png",
            self.curve,
            {k: self.baselines[k] for k in ("gain_only", "mixture") if k in self.baselines},
            f"{self.run_dir.name}: validation SDR",
        )
        gain = self.baselines.get("gain_only", {})
        self.log(
            f"valid step {self.step} ({row['train_minutes']:.1f} min): {_fmt(scores)}"
            + ("  [best]" if improved else "")
            + "  vs gain-only: "
            + " ".join(f"{s} {scores[s] - gain.get(s, 0):+.2f}" for s in STEMS)
        )
        return row


def _check_scorable(cfg: TrainConfig, corpus: Corpus, songs: list[np.ndarray]) -> None:
    """Refuse a validation set on which a stem has no score (every song silent in it)."""
    quiet = unscored_stems(songs)
    if quiet:
        i = STEMS.index(quiet[0])
        files = ", ".join(str(p[i]) for p in corpus.paths[: len(songs)])
        raise StemliveError(
            f"the validation set cannot score {', '.join(quiet)}: in the first "
            f"{cfg.valid_seconds:g} s of each of its {len(songs)} songs the stem is silent "
            f"(below -80 dBFS RMS): {files}. Add songs that have it to {corpus.folder}, or "
            "raise valid_songs or valid_seconds (a --config JSON)"
        )


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def digest(model: nn.Module) -> str:
    """A short SHA-256 of all weights (bitwise), to compare processes or runs."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _fmt(d: dict) -> str:
    return " ".join(f"{k} {v:.2f}" for k, v in d.items())


def load_config(path: Path | None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a JSON file (or the defaults), with top-level fields replaced."""
    cfg = TrainConfig()
    if path is not None:
        try:
            cfg = TrainConfig.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError) as exc:
            raise StemliveError(f"cannot read training config {path}: {exc}") from None
    return replace(cfg, **overrides)


def stdout_log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True, file=sys.stdout)
