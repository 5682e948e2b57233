"""Causal Band-Split RNN: band split, (time LSTM, band BLSTM) blocks, one mask head per stem.

Axes: b batch (stereo channels are batch items), s stem, f bin, t frame,
k band, w bin within a band, n trunk feature, h hidden.

The time LSTM is unidirectional and its (h, c) state is explicit, so the same
module runs a whole sequence (training, offline) or one frame at a time
(streaming) with the same numbers. Every norm looks at one frame only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.bands import BandLayout, band_layout
from model.config import ModelConfig

State = list[tuple[Tensor, Tensor]]  # per block: (h, c), each (1, k*b, time_hidden)

_EPS = 1e-8
MID_GAIN = 10.0  # see BandSplit


class RMSNorm(nn.Module):
    """RMS norm over the last axis with a learned gain (fused in eager, plain ops for ONNX)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + _EPS) * self.weight
        return nn.functional.rms_norm(x, self.weight.shape, self.weight, _EPS)


class _BandGrid(nn.Module):
    """Gather the bins of groups of bands into padded (k, w) grids, and scatter them back.

    ``groups`` lists band indices per grid; bands of one layout segment have
    nearly equal widths, so padding within a segment wastes little while one
    batched matmul serves the whole grid.
    """

    def __init__(self, layout: BandLayout, groups: list[list[int]]) -> None:
        super().__init__()
        self.groups = groups
        self.widths = []
        flat_pos = []  # position of every real bin in the concatenated padded grids
        offset = 0
        for g, bands in enumerate(groups):
            w_max = max(layout.widths[k] for k in bands)
            idx = torch.zeros(len(bands), w_max, dtype=torch.long)
            valid = torch.zeros(len(bands), w_max)
            for i, k in enumerate(bands):
                w = layout.widths[k]
                idx[i, :w] = torch.arange(layout.starts[k], layout.starts[k] + w)
                valid[i, :w] = 1.0
                flat_pos.extend(range(offset + i * w_max, offset + i * w_max + w))
            offset += len(bands) * w_max
            self.widths.append(w_max)
            self.register_buffer(f"idx{g}", idx, persistent=False)
            self.register_buffer(f"valid{g}", valid, persistent=False)
            count = torch.tensor([2.0 * layout.widths[k] for k in bands]).unsqueeze(-1)
            self.register_buffer(f"count{g}", count, persistent=False)
        self.register_buffer("flat_pos", torch.tensor(flat_pos), persistent=False)

    def gather(self, spec: Tensor, g: int) -> Tensor:
        """(b, t, f, 2) -> (b, t, k_g, w_g, 2), padded bins zero."""
        idx, valid = getattr(self, f"idx{g}"), getattr(self, f"valid{g}")
        return spec[:, :, idx, :] * valid[..., None]

    def scatter(self, parts: list[Tensor]) -> Tensor:
        """Per grid (..., k_g, w_g, 2) -> (..., f, 2) in bin order."""
        flat = torch.cat([p.flatten(-3, -2) for p in parts], dim=-2)
        return flat[..., self.flat_pos, :]


class BandSplit(nn.Module):
    """Per band: RMS norm over its 2*w values, then a linear map to N features.

    The band's log RMS level is appended as one more input: the norm alone
    would hide how loud a band is relative to the others. Bands are gathered
    by layout segment (nearly equal widths, one batched matmul each). The
    parameters keep the shape of one grid padded to the widest band, as
    weight files store them; each segment reads only the rows of its real
    bins (a padded bin is zero, so its rows never counted): a quarter of the
    padded product's work.

    With ``mid_input`` each channel also sees where each of its bins sits in
    the stereo field (vocals, bass and kick mostly in the centre), which a
    channel alone cannot tell: per bin, its product with the mix-down (the
    mean of the signal's channels) and the difference of their powers, over
    the sum of their powers (bounded; 1/2 and 0 for a centred sound), and the
    band's level relative to the mix-down's. Their map starts at zero, so a
    model grown from one without it starts as the same separator, and is
    applied times ``MID_GAIN``: Adam's steps do not scale with a weight, so the
    new map learns that much faster than the trained trunk beside it.
    """

    def __init__(self, layout: BandLayout, n_features: int, mid_input: bool = False) -> None:
        super().__init__()
        self.grid = _BandGrid(layout, layout.groups())
        k, w = layout.n_bands, max(layout.widths)
        fan_in = 2 * w + 1
        self.gain = nn.Parameter(torch.ones(k, 2 * w))
        self.weight = nn.Parameter(torch.randn(k, fan_in, n_features) / fan_in**0.5)
        self.bias = nn.Parameter(torch.zeros(k, 1, n_features))
        self.mid_weight = nn.Parameter(torch.zeros(k, 3 * w + 1, n_features)) if mid_input else None
        # Per segment: its bands (a contiguous run) and the parameter rows its bins use:
        # own features [re/im of w_g bins, level], stereo ones [3 x w_g bins, level].
        self._bands = []
        for g, (members, wg) in enumerate(zip(self.grid.groups, self.grid.widths, strict=True)):
            self._bands.append((members[0], members[-1] + 1))
            own = [*range(2 * wg), 2 * w]
            mid = [*range(wg), *range(w, w + wg), *range(2 * w, 2 * w + wg), 3 * w]
            self.register_buffer(f"own_rows{g}", torch.tensor(own), persistent=False)
            self.register_buffer(f"mid_rows{g}", torch.tensor(mid), persistent=False)

    def forward(self, spec: Tensor, channels: int | None = None) -> Tensor:
        """(b, t, f, 2) -> (k, b, t, n); items are signals of ``channels`` consecutive
        channels (None: all ``b`` items are the channels of one signal)."""
        b, t = spec.shape[:2]
        parts = []
        for g, (k0, k1) in enumerate(self._bands):
            bins = self.grid.gather(spec, g)  # b t kg wg 2
            x = bins.flatten(-2)  # b t kg 2wg
            count = getattr(self.grid, f"count{g}")
            power = x.pow(2).sum(-1, keepdim=True) / count
            gain = self.gain[k0:k1, : x.shape[-1]]
            own = torch.cat([x * torch.rsqrt(power + _EPS) * gain, _log_level(power)], -1)
            weight = self.weight[k0:k1].index_select(1, getattr(self, f"own_rows{g}"))
            y = torch.baddbmm(self.bias[k0:k1], _band_major(own), weight)
            if self.mid_weight is not None:
                feats = self._stereo(bins, power, count, channels or b)
                mid_weight = self.mid_weight[k0:k1].index_select(1, getattr(self, f"mid_rows{g}"))
                y = torch.baddbmm(y, _band_major(feats), mid_weight, alpha=MID_GAIN)
            parts.append(y)
        return torch.cat(parts, 0).unflatten(1, (b, t))

    def _stereo(self, bins: Tensor, power: Tensor, count: Tensor, c: int) -> Tensor:
        """Stereo position of each bin against the mix-down: (b, t, k, w, 2) -> (b, t, k, 3w+1)."""
        b = bins.shape[0]
        mid = bins.unflatten(0, (b // c, c)).mean(1, keepdim=True).expand(-1, c, -1, -1, -1, -1)
        mid = mid.flatten(0, 1)
        re, im, m_re, m_im = bins[..., 0], bins[..., 1], mid[..., 0], mid[..., 1]
        p_own, p_mid = re * re + im * im, m_re * m_re + m_im * m_im  # b t k w
        mid_power = p_mid.sum(-1, keepdim=True) / count
        # A floor 30 dB under the band's level keeps near-silent bins from looking panned.
        den = p_own + p_mid + 1e-3 * (power + mid_power) + _EPS
        cross_re, cross_im = re * m_re + im * m_im, im * m_re - re * m_im
        rel = (_log_level(mid_power) - _log_level(power)).clamp(-3.0, 3.0)
        return torch.cat([cross_re / den, cross_im / den, (p_own - p_mid) / den, rel], -1)


def _log_level(power: Tensor) -> Tensor:
    """log10 RMS of a band from its mean power."""
    return 0.5 * torch.log10(power + _EPS)


def _band_major(x: Tensor) -> Tensor:
    """(b, t, k, m) -> (k, b t, m)."""
    return x.flatten(0, 1).transpose(0, 1)


class _Residual(nn.Module):
    """norm -> LSTM -> linear -> add, along one axis of a (k, b, t, n) tensor."""

    def __init__(self, n_features: int, hidden: int, over_bands: bool) -> None:
        super().__init__()
        self.norm = RMSNorm(n_features)
        # Over bands: a BLSTM with the band axis first (no transpose needed);
        # over time: a causal LSTM with (k b) as batch.
        self.over_bands = over_bands
        self.rnn = nn.LSTM(n_features, hidden, batch_first=not over_bands, bidirectional=over_bands)
        self.proj = nn.Linear(hidden * (2 if over_bands else 1), n_features)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """(k, b, t, n) -> (k, b, t, n), with the LSTM's final (h, c)."""
        k, b, t, n = x.shape
        y = self.norm(x)
        y = y.reshape(k, b * t, n) if self.over_bands else y.reshape(k * b, t, n)
        y, new_state = self.rnn(y, state)
        return x + self.proj(y).reshape(k, b, t, n), new_state


class Block(nn.Module):
    """A causal time LSTM over frames per band, then a BLSTM over the bands of each frame."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.time = _Residual(cfg.n_features, cfg.time_hidden, over_bands=False)
        self.band = _Residual(cfg.n_features, cfg.band_hidden, over_bands=True)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """(k, b, t, n) -> (k, b, t, n); ``state`` is the time LSTM's (h, c)."""
        x, state = self.time(x, state)
        x, _ = self.band(x)
        return x, state


class MaskHeads(nn.Module):
    """Per stem and band: norm -> MLP (N -> H, tanh) -> GLU -> complex mask of the band's bins."""

    def __init__(self, layout: BandLayout, cfg: ModelConfig) -> None:
        super().__init__()
        self.grid = grid = _BandGrid(layout, layout.groups())
        s, h, n, k = len(cfg.stems), cfg.head_hidden, cfg.n_features, layout.n_bands
        self.n_stems, self.hidden = s, h
        self.norm = RMSNorm(n)
        self.w1 = nn.Parameter(torch.randn(k, n, s * h) / n**0.5)
        self.b1 = nn.Parameter(torch.zeros(k, 1, s * h))
        self.w2 = nn.ParameterList()
        self.b2 = nn.ParameterList()
        for members, w in zip(grid.groups, grid.widths, strict=True):
            kg = len(members)
            self.w2.append(nn.Parameter(torch.randn(s * kg, h, 4 * w) * (0.1 / h**0.5)))
            # Start every stem at mask 1/S (GLU: value 2/S times sigmoid(0)), so an
            # untrained model splits the mixture evenly and training starts from there.
            bias = torch.zeros(s * kg, 1, w, 2, 2)
            bias[..., 0, 0] = 2.0 / s
            self.b2.append(nn.Parameter(bias.flatten(-3)))

    def forward(self, x: Tensor) -> Tensor:
        """(k, b, t, n) -> masks (b, s, f, t, 2) as real and imaginary parts."""
        k, b, t, n = x.shape
        s, h = self.n_stems, self.hidden
        z = self.norm(x).reshape(k, b * t, n)
        hid = torch.tanh(torch.baddbmm(self.b1, z, self.w1))  # k (b t) (s h)
        hid = hid.unflatten(-1, (s, h)).permute(2, 0, 1, 3)  # s k (b t) h
        parts, k0 = [], 0
        for g, members in enumerate(self.grid.groups):
            kg = len(members)
            hg = hid[:, k0 : k0 + kg].reshape(s * kg, b * t, h)
            k0 += kg
            o = torch.baddbmm(self.b2[g], hg, self.w2[g])  # (s kg) (b t) 4w
            o = o.unflatten(-1, (-1, 2, 2))  # ... w (re|im) (value|gate)
            m = o[..., 0] * torch.sigmoid(o[..., 1])  # (s kg) (b t) w 2
            parts.append(m.unflatten(0, (s, kg)).transpose(2, 3))  # s kg w (b t) 2
        masks = torch.cat([p.flatten(1, 2) for p in parts], dim=1)[:, self.grid.flat_pos]
        return masks.unflatten(2, (b, t)).permute(2, 0, 1, 3, 4)


class BSRNN(nn.Module):
    """The causal Band-Split RNN with a shared trunk and one mask head per stem."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layout = band_layout(cfg.band_layout, cfg.sample_rate, cfg.n_fft)
        self.layout = layout
        self.split = BandSplit(layout, cfg.n_features, cfg.mid_input)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_blocks))
        self.heads = MaskHeads(layout, cfg)

    def init_state(self, batch: int) -> State:
        """Zero state for ``batch`` sequences (channels count as batch items)."""
        shape = (1, self.layout.n_bands * batch, self.cfg.time_hidden)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.blocks]

    def forward(
        self, spec: Tensor, state: State | None = None, channels: int | None = None
    ) -> tuple[Tensor, State]:
        """Masks for a spectrogram: (b, f, t) complex -> ((b, s, f, t) complex, state).

        ``state`` is the state after the previous frames (None: silence before).
        ``channels``: items are signals of this many consecutive channels (None: the
        ``b`` items are the channels of one signal).
        """
        spec = torch.view_as_real(spec.transpose(1, 2))
        masks, new_state = self.real_masks(spec, state, channels)
        return torch.view_as_complex(masks.contiguous()), new_state

    def real_masks(
        self, spec: Tensor, state: State | None = None, channels: int | None = None
    ) -> tuple[Tensor, State]:
        """``forward`` on real tensors: (b, t, f, 2) -> ((b, s, f, t, 2), state).

        Autocast (bf16 training) runs this part; complex tensors have no bf16 type.
        """
        x = self.split(spec, channels)  # k b t n
        new_state: State = []
        for i, block in enumerate(self.blocks):
            x, st = block(x, None if state is None else state[i])
            new_state.append(st)
        return self.masks(x), new_state

    def masks(self, x: Tensor) -> Tensor:
        """Trunk features (k, b, t, n) -> masks (b, s, f, t, 2) as real and imaginary parts.

        With a residual stem its mask is 1 - the sum of the others' (its head is
        computed but unused, so that weights load whichever way a model is run).
        """
        m = self.heads(x)
        if not self.cfg.residual_stem:
            return m
        r = self.cfg.stems.index(self.cfg.residual_stem)
        unit = torch.tensor([1.0, 0.0], dtype=m.dtype)
        rest = unit - m[:, :r].sum(1, keepdim=True) - m[:, r + 1 :].sum(1, keepdim=True)
        return torch.cat([m[:, :r], rest, m[:, r + 1 :]], 1)

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        """Masks for one frame: (b, f) complex -> ((b, s, f) complex, state)."""
        masks, state = self.forward(frame.unsqueeze(-1), state)
        return masks[..., 0], state

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def macs_per_frame(self) -> dict[str, int]:
        """Multiply-accumulates for one frame of one channel, by part (LSTM gates counted)."""
        c, lay = self.cfg, self.layout
        k, n, s = lay.n_bands, c.n_features, len(c.stems)
        groups = self.heads.grid
        widths = [(len(m), w) for m, w in zip(groups.groups, groups.widths, strict=True)]
        split = sum(kg * (2 * w + 1 + (3 * w + 1 if c.mid_input else 0)) * n for kg, w in widths)
        time = k * (4 * c.time_hidden * (n + c.time_hidden) + c.time_hidden * n)
        band = k * (8 * c.band_hidden * (n + c.band_hidden) + 2 * c.band_hidden * n)
        heads = k * n * s * c.head_hidden + sum(s * kg * c.head_hidden * 4 * w for kg, w in widths)
        return {
            "band_split": split,
            "time_lstm": c.n_blocks * time,
            "band_lstm": c.n_blocks * band,
            "mask_heads": heads,
        }
