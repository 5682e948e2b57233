"""A slow, causal input gain that brings what the separator has heard to one level.

The network reads each band's absolute level, and it separates best near the level of
the songs it trained on (-32..-18 dB RMS; the shipped models ask for -22): a record
mastered 10 dB hotter, or a quiet live input, sounds like other music to it. The
separator therefore scales the network's input, never its output: the masks go on the
signal as it came.
"""

from __future__ import annotations

import math

import numpy as np

from model.config import ModelConfig
from model.stft import padded_length

SECONDS = 10.0  # the level's memory: an exponential average of this time constant
GATE_DB = -60.0  # hops quieter than this (silence, fades) leave the level alone
MAX_GAIN_DB = 24.0  # the gain stays within +-this


class InputLevel:
    """Per hop: the gain that brings the gated running RMS of the input to ``target_db``."""

    def __init__(self, target_db: float, hop: int, sample_rate: int) -> None:
        self.target = 10 ** (target_db / 10)  # as a power
        self.decay = math.exp(-hop / (SECONDS * sample_rate))
        self.gate = 10 ** (GATE_DB / 10)
        self.limit = 10 ** (MAX_GAIN_DB / 20)
        self.reset()

    @classmethod
    def of(cls, cfg: ModelConfig) -> InputLevel | None:
        """The level a model config asks its separator for; None when it is off."""
        if not cfg.input_level_db:
            return None
        return cls(cfg.input_level_db, cfg.hop, cfg.sample_rate)

    def reset(self) -> None:
        self.power = 0.0  # exponential average of the gated hops' power
        self.weight = 0.0  # the same average of 1: dividing by it unbiases the start

    def update(self, hop: np.ndarray) -> float:
        """Take the newest hop of input (channels, hop) and return the gain for its frame."""
        p = float(np.mean(np.square(hop, dtype=np.float64)))
        if p > self.gate:
            self.power = self.decay * self.power + (1.0 - self.decay) * p
            self.weight = self.decay * self.weight + (1.0 - self.decay)
        if self.weight == 0.0:
            return 1.0  # nothing heard yet
        gain = math.sqrt(self.target * self.weight / self.power)
        return min(max(gain, 1.0 / self.limit), self.limit)


def frame_gains(cfg: ModelConfig, audio: np.ndarray) -> np.ndarray | None:
    """The gain of every STFT frame of a whole signal (channels, n), padded as the causal
    STFT pads it, each from the hop that completes its frame, as ``InputLevel.update`` gives
    them when streaming; None when ``cfg.input_level_db`` is off."""
    level = InputLevel.of(cfg)
    if level is None:
        return None
    n_fft, hop = cfg.n_fft, cfg.hop
    n_frames, length = padded_length(audio.shape[-1], n_fft, hop)
    x = np.zeros((audio.shape[0], length), np.float32)
    x[:, n_fft - hop : n_fft - hop + audio.shape[-1]] = audio
    out = np.empty(n_frames, np.float32)
    for m in range(n_frames):
        out[m] = level.update(x[:, m * hop + n_fft - hop : m * hop + n_fft])
    return out
