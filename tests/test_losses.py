"""The training loss terms: stem weights, the batch SDR term and why it is there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.stft import CausalSTFT
from training.evaluate_metrics import sdr
from training.losses import LossConfig, SeparationLoss, batch_sdr, compressed


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(3, 4, 2048, generator=g)
    return target, target + 0.3 * torch.randn(3, 4, 2048, generator=g) * torch.arange(1, 5)[:, None]


def test_batch_sdr_is_the_sdr_of_the_concatenated_items():
    target, est = _batch()
    got = batch_sdr(est, target, torch.ones(3, 4, dtype=torch.bool))
    want = [sdr(target[:, s].numpy(), est[:, s].numpy()) for s in range(4)]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-4)
    # An item left out does not count; a silent target item keeps the ratio finite.
    counted = torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)
    got = batch_sdr(est, target, counted)
    assert got[0] == pytest.approx(sdr(target[[0, 2], 0].numpy(), est[[0, 2], 0].numpy()), abs=1e-4)
    target[1, 2] = 0.0
    assert torch.isfinite(batch_sdr(est, target, counted)).all()


def test_stem_weights_weight_each_stems_terms():
    stft = CausalSTFT(256, 64)
    target, est = _batch(1)
    spec = stft.analyse(est)
    cfg = LossConfig(sdr_weight=0.01)
    per_stem = [
        SeparationLoss(cfg, stft)(spec[:, [s]], est[:, [s]], target[:, [s]])[0] for s in range(4)
    ]
    w = torch.tensor([1.0, 1.0, 1.0, 2.0])
    weighted, _ = SeparationLoss(LossConfig(sdr_weight=0.01, stem_weights=(1, 1, 1, 2)), stft)(
        spec, est, target
    )
    assert weighted.item() == pytest.approx((torch.stack(per_stem) * w).sum().item() / 5, rel=1e-5)
    with pytest.raises(ValueError, match="3 values for 4 stems"):
        SeparationLoss(LossConfig(stem_weights=(1, 1, 2)), stft)(spec, est, target)


def test_the_sdr_term_keeps_an_uncertain_stems_share_where_l1_drops_it():
    """A sound that is stem 0 in 40 % of the items and stem 1 otherwise, with nothing to tell
    which: L1 is best with a gain of 0 on both (the median), so the sound is lost; the SDR
    term is best near the expected shares (0.4, 0.6), as the evaluation wants."""
    stft = CausalSTFT(256, 64)
    g = torch.Generator().manual_seed(2)
    sound = torch.randn(10, 1, 2048, generator=g)
    owner = torch.arange(10) < 4
    target = torch.zeros(10, 2, 2048)
    target[owner, 0] = sound[owner, 0]
    target[~owner, 1] = sound[~owner, 0]
    gains = torch.linspace(0.0, 1.0, 21)

    def best(cfg: LossConfig) -> list[float]:
        loss = SeparationLoss(cfg, stft)
        out = []
        for s in range(2):
            values = []
            for gain in gains:
                est = target.clone()
                est[:, s] = gain * sound[:, 0]
                values.append(loss(stft.analyse(est), est, target)[0].item())
            out.append(float(gains[int(np.argmin(values))]))
        return out

    assert best(LossConfig()) == [0.0, 1.0]  # stem 0's 40 % share: dropped
    g0, g1 = best(LossConfig(spec_weight=0.0, wave_weight=0.0, sdr_weight=1.0))
    assert 0.3 <= g0 <= 0.5 and 0.5 <= g1 <= 0.7


def test_the_compressed_term_weighs_a_quiet_part_more_than_the_linear_terms():
    """A loud 200 Hz tone and a 30 dB quieter 3 kHz one (a voice's fundamental and an upper
    harmonic): missing the quiet one costs little against missing the loud one in the
    linear terms, several times more with the compressed term."""
    stft = CausalSTFT(512, 128)
    t = torch.arange(8192) / 44100
    loud = torch.sin(2 * torch.pi * 200 * t)
    quiet = 10 ** (-30 / 20) * torch.sin(2 * torch.pi * 3000 * t)
    target = (loud + quiet).reshape(1, 1, -1)

    def ratio(cfg: LossConfig) -> float:
        loss = SeparationLoss(cfg, stft)
        miss = [loss(stft.analyse(x), x, target)[0].item() for x in (target - quiet, target - loud)]
        return miss[0] / miss[1]

    linear = ratio(LossConfig(wave_weight=0.0))
    comp = ratio(LossConfig(spec_weight=0.0, wave_weight=0.0, comp_weight=1.0))
    assert linear < 0.05 and comp > 5 * linear
    # The compression keeps the phase, is the identity at power 1, and has a finite slope at 0.
    x = torch.tensor([3 + 4j, -0.5j, 0j], requires_grad=True)
    y = compressed(x, 0.5)
    np.testing.assert_allclose(y.abs().detach()[:2].numpy(), [5**0.5, 0.5**0.5], rtol=1e-5)
    np.testing.assert_allclose(torch.angle(y).detach()[:2].numpy(), torch.angle(x).detach()[:2])
    np.testing.assert_allclose(compressed(x, 1.0).detach().numpy(), x.detach().numpy(), atol=1e-6)
    y.abs().sum().backward()
    assert torch.isfinite(x.grad).all()
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="comp_power"):
            LossConfig(comp_power=bad)
