"""The one Separator used by the live engine, offline separation, benchmarks and tests.

Streaming: ``prepare(sample_rate, block_size, channels)``, then ``process(block)``
with any block size up to ``block_size``; output is the separated stems
delayed by exactly ``latency_samples``. Offline: ``separate(audio)`` runs the
same causal model over whole sequences and returns latency-compensated stems
equal to the streamed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from model.bsrnn import BSRNN
from model.config import ModelConfig
from model.level import InputLevel, frame_gains
from model.onnx_step import OnnxStep, onnxruntime_available
from model.stft import (
    analysis_window,
    overlap_add,
    padded_length,
    stft_frames,
    synthesis_window,
)

MAX_BLOCK = 8192


def blend_ratio_masks(masks, spec, blend: float):
    """Masks (c, s, f, ...) for spectra (c, f, ...), numpy or torch: ``1 - blend`` of each
    complex mask plus ``blend`` of its stem's share of the stems' estimated power (mean
    over channels). Both parts sum to one over the stems when the masks do, so a residual
    stem still makes the stems sum to the input. Per frame: no added latency."""
    if not blend:
        return masks
    power = (abs(masks * spec[:, None]) ** 2).mean(0)  # s f ...
    ratio = power / (power.sum(0)[None] + 1e-20)
    return (1.0 - blend) * masks + blend * ratio[None]


MAX_CHANNELS = 64  # separate() holds every channel at once: more is a transposed signal


class Separator:
    """Stem separation of a stream or a whole signal with a causal BSRNN."""

    def __init__(self, model: BSRNN, info: dict | None = None, backend: str = "auto") -> None:
        """``backend`` runs the streamed step: ``torch``, ``onnx`` (onnxruntime, faster),
        ``auto`` (onnx when onnxruntime is installed): the same numbers; or ``onnx-int8``
        (int8 weights: faster again, close to the others but not equal)."""
        if backend not in ("auto", "torch", "onnx", "onnx-int8"):
            raise ValueError(f"backend must be auto, torch, onnx or onnx-int8, not {backend!r}")
        if backend.startswith("onnx") and not onnxruntime_available():
            raise ValueError(f"backend {backend!r} needs the onnxruntime package")
        self.backend = "onnx" if backend == "auto" and onnxruntime_available() else backend
        self._onnx_steps: dict[int, OnnxStep] = {}
        self.model = model.eval()
        self.cfg: ModelConfig = model.cfg
        self.info = info or {}
        self.n_fft, self.hop = self.cfg.n_fft, self.cfg.hop
        self._win_a = analysis_window(self.n_fft).numpy()
        self._win_s = synthesis_window(self.n_fft, self.hop).numpy()
        self._prepared = False
        self.nonfinite_samples = 0  # input samples replaced by 0 since prepare()

    @classmethod
    def from_preset(cls, preset: str, seed: int = 0, backend: str = "auto") -> Separator:
        """An untrained model of a preset (for tests and benchmarks)."""
        torch.manual_seed(seed)
        return cls(BSRNN(ModelConfig.preset(preset)), {"trained": False, "name": preset}, backend)

    @classmethod
    def load(cls, path: str | Path | None = None, backend: str = "auto") -> Separator:
        """Load a weights folder (default: the shipped default model)."""
        from model.weights import load_model

        model, info = load_model(path)
        return cls(model, info, backend)

    @property
    def stems(self) -> tuple[str, ...]:
        return self.cfg.stems

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_size(self) -> int:
        return self.hop

    @property
    def latency_samples(self) -> int:
        """Fixed delay of ``process()`` output behind its input, in samples."""
        return self.cfg.latency_samples

    # -- streaming -----------------------------------------------------------

    def prepare(self, sample_rate: int, block_size: int, channels: int = 2) -> None:
        """Get ready to stream blocks of at most ``block_size`` samples of ``channels``."""
        if sample_rate != self.sample_rate:
            raise ValueError(
                f"the model runs at {self.sample_rate} Hz, not {sample_rate} Hz: resample first"
            )
        if not 1 <= block_size <= MAX_BLOCK:
            raise ValueError(f"block size must be 1..{MAX_BLOCK}, got {block_size}")
        if channels < 1:
            raise ValueError(f"need at least one channel, got {channels}")
        self.block_size, self.channels = block_size, channels
        self._onnx = None
        if self.backend.startswith("onnx"):
            if channels not in self._onnx_steps:  # export once per channel count
                int8 = self.backend == "onnx-int8"
                self._onnx_steps[channels] = OnnxStep(self.model, channels, int8)
            self._onnx = self._onnx_steps[channels]
        n_stems = len(self.stems)
        self._in = np.zeros((channels, self.n_fft), np.float32)
        self._ola = np.zeros((n_stems, channels, self.n_fft), np.float32)
        self._out = np.zeros(
            (n_stems, channels, self.latency_samples + block_size + self.hop), np.float32
        )
        self._level = InputLevel.of(self.cfg)
        self._prepared = True
        self.reset()

    def reset(self) -> None:
        """Forget all past input: the next block starts as if after silence."""
        if not self._prepared:
            return
        self._in.fill(0.0)
        self._ola.fill(0.0)
        self._out.fill(0.0)
        self._in_fill = self.n_fft - self.hop  # the zero padding before the signal
        self._out_fill = self.latency_samples  # the delay, as zeros
        self._frames_done = 0
        self._state = (
            self._onnx.init_state() if self._onnx else self.model.init_state(self.channels)
        )
        self.nonfinite_samples = 0
        if self._level is not None:
            self._level.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Separate one block: (channels, n) -> (stems, channels, n), delayed by the latency."""
        if not self._prepared:
            raise RuntimeError("call prepare() before process()")
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, n) block, got {block.shape}")
        n = block.shape[1]
        if n > self.block_size:
            raise ValueError(f"block of {n} samples exceeds the prepared size {self.block_size}")
        finite = np.isfinite(block)
        if not finite.all():
            self.nonfinite_samples += int(block.size - finite.sum())
            block = np.where(finite, block, 0.0)
        # Feed in at most one hop's worth at a time so the input buffer never overflows.
        pos = 0
        while pos < n:
            take = min(n - pos, self.n_fft - self._in_fill)
            self._in[:, self._in_fill : self._in_fill + take] = block[:, pos : pos + take]
            self._in_fill += take
            pos += take
            if self._in_fill == self.n_fft:
                self._process_frame()
        out = self._out[:, :, :n].copy()
        self._out[:, :, : self._out_fill - n] = self._out[:, :, n : self._out_fill]
        self._out_fill -= n
        return out

    def _masks(self, spec: np.ndarray) -> np.ndarray:
        """Masks (c, s, f) complex for one frame's spectrum (c, f), advancing the state."""
        if self._onnx is not None:
            ri = np.stack([spec.real, spec.imag], -1).astype(np.float32)
            masks, self._state = self._onnx(ri, self._state)
            return masks[..., 0] + 1j * masks[..., 1]
        with torch.inference_mode():
            masks, self._state = self.model.step(torch.from_numpy(spec), self._state)
        return masks.numpy()

    def _process_frame(self) -> None:
        spec = np.fft.rfft(self._in * self._win_a).astype(np.complex64)  # c f
        seen = spec
        if self._level is not None:
            seen = spec * np.float32(self._level.update(self._in[:, -self.hop :]))
        masks = blend_ratio_masks(self._masks(seen), spec, self.cfg.ratio_blend)  # c s f
        time = np.fft.irfft(masks * spec[:, None], n=self.n_fft) * self._win_s  # c s n
        self._ola += time.transpose(1, 0, 2)
        # Slide the input by one hop, emit the now final hop of output.
        self._in[:, : self.n_fft - self.hop] = self._in[:, self.hop : self.n_fft]
        self._in_fill -= self.hop
        if self._frames_done >= self.n_fft // self.hop - 1:  # earlier hops lie in the padding
            self._out[:, :, self._out_fill : self._out_fill + self.hop] = self._ola[
                :, :, : self.hop
            ]
            self._out_fill += self.hop
        self._ola[:, :, : -self.hop] = self._ola[:, :, self.hop :]
        self._ola[:, :, -self.hop :] = 0.0
        self._frames_done += 1

    # -- offline -------------------------------------------------------------

    @torch.inference_mode()
    def separate(
        self,
        audio: np.ndarray,
        chunk_frames: int = 512,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Latency-compensated stems of a whole signal: (channels, n) -> (stems, channels, n).

        Runs the model over chunks of frames, carrying its state, so the result
        equals streaming (shifted by the latency) while memory stays bounded.
        """
        if audio.ndim != 2 or audio.shape[1] == 0:
            raise ValueError(f"expected a non-empty (channels, n) signal, got {audio.shape}")
        if audio.shape[0] > MAX_CHANNELS:
            raise ValueError(
                f"expected a (channels, n) signal with at most {MAX_CHANNELS} channels, got "
                f"{audio.shape}: is it (n, channels)? Pass audio.T"
            )
        audio = np.where(np.isfinite(audio), audio, 0.0).astype(np.float32, copy=False)
        c, n = audio.shape
        n_fft, hop = self.n_fft, self.hop
        n_frames, length = padded_length(n, n_fft, hop)
        x = torch.zeros(c, length)
        x[:, n_fft - hop : n_fft - hop + n] = torch.from_numpy(audio)
        out = torch.zeros(len(self.stems), c, length)
        win_a, win_s = torch.from_numpy(self._win_a), torch.from_numpy(self._win_s)
        state = None
        gains = frame_gains(self.cfg, audio)
        for m0 in range(0, n_frames, chunk_frames):
            m1 = min(n_frames, m0 + chunk_frames)
            spec = stft_frames(x[:, m0 * hop : (m1 - 1) * hop + n_fft], n_fft, hop, win_a)
            seen = spec if gains is None else spec * torch.from_numpy(gains[m0:m1])
            masks, state = self.model(seen, state)  # c s f t
            est = blend_ratio_masks(masks, spec, self.cfg.ratio_blend) * spec[:, None]
            frames = torch.fft.irfft(est.transpose(-1, -2), n=n_fft) * win_s  # c s t n
            seg = overlap_add(frames.transpose(0, 1), hop)  # s c samples
            out[:, :, m0 * hop : m0 * hop + seg.shape[-1]] += seg
            if progress is not None:
                progress(m1, n_frames)
        return out[:, :, n_fft - hop : n_fft - hop + n].numpy()
