"""Checkpoints: a full one for exact resume, and a compact one small enough to commit.

Full (``last.pt``): fp32 weights, optimizer, scheduler, torch RNG state, the
run's counters and curve. Read with ``weights_only=True``: nothing is
unpickled beyond tensors and plain containers.

Compact (a folder, committed to git): fp16 weights in the ``model/weights``
format plus ``train_state.json`` (config, counters, curve). Adam's moments
are left out (they would triple the size); a resume from it restarts them,
which the warm-up of the schedule absorbs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from model.errors import StemliveError

FULL_NAME = "last.pt"
STATE_FILE = "train_state.json"


def save_full(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (tmp + rename): an interrupted save never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_full(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StemliveError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise StemliveError(f"{path} is not a readable training checkpoint ({exc})") from None


def save_compact(folder: Path, model: torch.nn.Module, info: dict, state: dict) -> Path:
    """fp16 weights + train_state.json in ``folder`` (replaced), for committing."""
    from model.weights import save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, folder, info=info, half=True)
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    os.replace(tmp, folder / STATE_FILE)
    return folder


def load_compact(folder: Path) -> tuple[torch.nn.Module, dict]:
    """The model (fp32) and train state of a compact checkpoint folder."""
    from model.weights import load_model

    if not (folder / STATE_FILE).is_file():
        raise StemliveError(f"{folder} is not a compact training checkpoint (no {STATE_FILE})")
    model, _ = load_model(folder)
    return model.train(), json.loads((folder / STATE_FILE).read_text())
