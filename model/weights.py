"""Weights folders: ``config.json`` + ``model.safetensors``, never unpickled.

``config.json`` holds a format tag, the model config, free-form info (trained
or not, data, steps, metrics, the command) and the SHA-256 of the tensor file,
so a corrupt, truncated, foreign or mismatched folder is refused with a
message that names the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.bsrnn import BSRNN
from model.config import ModelConfig
from model.errors import WeightsError

FORMAT = "stemlive-weights"
VERSION = 1
CONFIG_FILE = "config.json"
TENSOR_FILE = "model.safetensors"
WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = "default"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(path: str | Path | None) -> Path:
    """A weights folder from a path, a name under ``model/weights/``, or None (the default)."""
    if path is None:
        return WEIGHTS_DIR / DEFAULT_NAME
    p = Path(path)
    if not p.exists() and (WEIGHTS_DIR / p).is_dir():
        return WEIGHTS_DIR / p
    return p


def save_model(
    model: BSRNN, folder: str | Path, info: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write ``model`` to ``folder`` (created). ``half`` stores float16 to halve the size."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, folder / TENSOR_FILE, metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.cfg.to_dict(),
        "info": info or {},
        "sha256": _sha256(folder / TENSOR_FILE),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def read_config(folder: str | Path | None) -> tuple[ModelConfig, dict[str, Any]]:
    """The model config and info of a weights folder, checked."""
    folder = resolve(folder)
    cfg_path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise WeightsError(f"weights folder {folder} does not exist")
    if not cfg_path.is_file():
        raise WeightsError(f"{cfg_path} is missing: a weights folder needs {CONFIG_FILE}")
    try:
        meta = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{cfg_path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsError(f"{cfg_path} is not a stemlive weights config (no format {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise WeightsError(
            f"{cfg_path} has format version {meta.get('version')}, this stemlive reads {VERSION}"
        )
    try:
        cfg = ModelConfig.from_dict(meta.get("model", {}))
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{cfg_path}: {exc}") from None
    info = dict(meta.get("info", {}))
    info["sha256"] = meta.get("sha256")
    info["path"] = str(folder)
    return cfg, info


def load_model(folder: str | Path | None = None) -> tuple[BSRNN, dict[str, Any]]:
    """Build the model of a weights folder and load its tensors (as float32)."""
    cfg, info = read_config(folder)
    folder = resolve(folder)
    tensor_path = folder / TENSOR_FILE
    if not tensor_path.is_file():
        raise WeightsError(f"{tensor_path} is missing")
    if info.get("sha256") and _sha256(tensor_path) != info["sha256"]:
        raise WeightsError(
            f"{tensor_path} does not match the checksum in {CONFIG_FILE}: "
            "the file is corrupt or truncated, or belongs to another config"
        )
    try:
        tensors = load_file(tensor_path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{tensor_path} is not a readable safetensors file ({exc})") from None
    model = BSRNN(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise WeightsError(
            f"{tensor_path} does not match its config: missing {missing[:3]}, unexpected "
            f"{extra[:3]} ({len(missing)} missing, {len(extra)} unexpected tensors)"
        )
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise WeightsError(
                f"{tensor_path} does not match its config: {name} has shape "
                f"{tuple(t.shape)}, the config needs {tuple(expected[name].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.eval(), info
