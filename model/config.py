"""The model's configuration: one frozen dataclass, validated, saved as JSON beside the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from model.bands import LAYOUTS

STEMS = ("vocals", "bass", "drums", "other")
INPUT_LEVEL_DB = (-60.0, 0.0)  # the range of input_level_db (0: off)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's shapes and its STFT.

    The algorithmic latency is ``n_fft - 1`` samples (one analysis window).
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop: int = 512
    band_layout: str = "v7"
    n_features: int = 48  # N: features per band in the trunk
    n_blocks: int = 2  # residual blocks of (time LSTM, band BLSTM)
    time_hidden: int = 96  # hidden size of the causal time LSTM
    band_hidden: int = 48  # hidden size per direction of the band BLSTM
    head_hidden: int = 64  # hidden width of each stem's mask MLP
    stems: tuple[str, ...] = STEMS
    # A stem whose mask is one minus the others' ("" for none): the stems then always
    # sum to the mixture, and what the other masks leave out is heard in this stem.
    residual_stem: str = ""
    # Each channel's band split also sees the mix-down of its signal's channels
    # (where a sound is panned); off: every channel is separated on its own.
    mid_input: bool = False
    # How the separator applies the masks (not the network: training ignores it):
    # this share of each stem's mask is the ratio of the stems' estimated powers,
    # a Wiener-style soft mask that smooths what the complex masks leave uneven.
    ratio_blend: float = 0.0
    # The separator's input level (RMS, dBFS) for the network, 0 for off (training
    # ignores it): a slow causal gain brings what it has heard so far to this level
    # before the network sees it; the masks go on the input as it came. The network
    # reads each band's absolute level, so a record mastered 10 dB hotter than the
    # training songs would otherwise sound like other music to it.
    input_level_db: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.sample_rate < 8000:
            problems.append(f"sample_rate {self.sample_rate} is below 8000")
        if self.n_fft < 16 or self.n_fft % 2:
            problems.append(f"n_fft {self.n_fft} must be even and at least 16")
        if self.hop <= 0 or self.n_fft % self.hop or self.n_fft // self.hop < 2:
            problems.append(f"hop {self.hop} must divide n_fft {self.n_fft} at least twice")
        if self.band_layout not in LAYOUTS:
            problems.append(f"band_layout {self.band_layout!r} is not one of {sorted(LAYOUTS)}")
        for name in ("n_features", "n_blocks", "time_hidden", "band_hidden", "head_hidden"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if not self.stems or len(set(self.stems)) != len(self.stems):
            problems.append(f"stems {self.stems} must be distinct and not empty")
        if not 0.0 <= self.ratio_blend <= 1.0:
            problems.append(f"ratio_blend {self.ratio_blend} must be between 0 and 1")
        low, high = INPUT_LEVEL_DB
        if not low <= self.input_level_db <= high:
            problems.append(
                f"input_level_db {self.input_level_db} must be {low:g}..{high:g} (0: off)"
            )
        if self.residual_stem and self.residual_stem not in self.stems:
            problems.append(f"residual_stem {self.residual_stem!r} is not one of {self.stems}")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    @property
    def network(self) -> ModelConfig:
        """This config without the separator's settings (how it applies the network)."""
        return replace(self, ratio_blend=0.0, input_level_db=0.0)

    @property
    def latency_samples(self) -> int:
        """Samples between an input sample and the first output that can depend on it."""
        return self.n_fft - 1

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A named preset (``tiny``, ``standard``, ``low-latency``), with optional overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stems"] = list(self.stems)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown or mistyped keys give a ValueError that names them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}")
        d = dict(d)
        if "stems" in d:
            d["stems"] = tuple(d["stems"])
        for f in fields(cls):
            if f.name in d and f.type == "int" and not isinstance(d[f.name], int):
                raise ValueError(f"model config key {f.name!r} must be an integer")
            if f.name in d and f.type == "float" and not isinstance(d[f.name], int | float):
                raise ValueError(f"model config key {f.name!r} must be a number")
            if f.name in d and f.type == "bool" and not isinstance(d[f.name], bool):
                raise ValueError(f"model config key {f.name!r} must be true or false")
        return cls(**d)

    def to_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        n_fft=256,
        hop=64,
        n_features=8,
        n_blocks=1,
        time_hidden=12,
        band_hidden=8,
        head_hidden=12,
    ),
    "standard": ModelConfig(n_fft=2048, hop=512),
    "low-latency": ModelConfig(n_fft=1024, hop=256),
}
