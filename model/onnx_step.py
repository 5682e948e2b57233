"""The model's per-frame step run by onnxruntime: the same numbers, less overhead per hop.

A streamed hop runs a hundred small operations; in eager PyTorch each costs a
few microseconds of dispatch, which is most of the hop. Exported once (under
a second) and run by onnxruntime, the step is about 1.5x faster. The exported
(and quantized) graph is kept in a cache folder, keyed by the weights, the
channel count and the library versions, so the next engine start with the
same model skips the export: ``$STEMLIVE_CACHE``, else
``$XDG_CACHE_HOME/stemlive`` or ``~/.cache/stemlive``; ``STEMLIVE_CACHE=off``
turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from model.bsrnn import BSRNN


class _StepGraph(nn.Module):
    """One frame (c, f, 2) and flat (h, c) states in; masks (c, s, f, 2) and states out."""

    def __init__(self, model: BSRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, spec: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        pairs = list(zip(state[0::2], state[1::2], strict=True))
        masks, new = self.model.real_masks(spec.unsqueeze(1), pairs)
        return (masks[:, :, :, 0], *(t for hc in new for t in hc))


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _int8(graph: bytes) -> bytes:
    """The graph with its weights in int8 and activations quantized per call (onnxruntime's
    dynamic quantization of the LSTMs and matrix products)."""
    import logging
    import tempfile
    from pathlib import Path

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(graph)
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process first
        try:
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        return dst.read_bytes()


GRAPH_FORMAT = 1  # bump when the exported graph changes for the same weights
CACHE_KEEP = 16  # graphs kept; the least recently used go first


def cache_dir() -> Path | None:
    """Where exported step graphs are kept, or None when ``STEMLIVE_CACHE=off``."""
    root = os.environ.get("STEMLIVE_CACHE")
    if root == "off":
        return None
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stemlive"


def _graph_key(model: BSRNN, channels: int, int8: bool) -> str:
    """A digest of everything the exported graph depends on."""
    import onnxruntime

    h = hashlib.sha256()
    meta = {
        "format": GRAPH_FORMAT,
        "config": model.cfg.to_dict(),
        "channels": channels,
        "int8": int8,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def _read_cached(path: Path | None) -> bytes | None:
    """The cached graph (marked as just used), or None."""
    if path is None:
        return None
    try:
        graph = path.read_bytes()
        os.utime(path)
    except OSError:
        return None
    return graph


def _prune(folder: Path) -> None:
    """Remove all but the ``CACHE_KEEP`` most recently used graphs."""
    with contextlib.suppress(OSError):
        graphs = sorted(folder.glob("step-*.onnx"), key=lambda p: p.stat().st_mtime)
        for old in graphs[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)


def _write_cached(path: Path | None, graph: bytes) -> None:
    """Keep ``graph`` at ``path`` (written beside it, then renamed: a reader never sees half
    a file); a cache that cannot be written is left alone."""
    if path is None:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(graph)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return
    _prune(path.parent)


def live_backend(int8: bool) -> str:
    """The separator backend live streaming runs: int8 when asked (and onnxruntime is
    installed), else ``auto``."""
    return "onnx-int8" if int8 and onnxruntime_available() else "auto"


class OnnxStep:
    """``step`` for a fixed channel count, on numpy arrays, by onnxruntime on one thread;
    ``int8``: with int8 weights (faster, close but not equal to the float step).
    ``from_cache`` says whether the graph came from the cache folder."""

    def __init__(self, model: BSRNN, channels: int, int8: bool = False) -> None:
        import onnxruntime as ort

        self.channels = channels
        state = model.init_state(channels)
        self._state_shapes = [t.shape for hc in state for t in hc]
        self._names = [f"s{i}" for i in range(len(self._state_shapes))]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        folder = cache_dir()
        path = None
        if folder is not None:
            path = folder / f"step-{_graph_key(model, channels, int8)}.onnx"
        cpu = ["CPUExecutionProvider"]
        graph = _read_cached(path)
        self.from_cache = graph is not None
        if graph is not None:
            try:
                self._session = ort.InferenceSession(graph, opts, providers=cpu)
                return
            except Exception:  # a damaged cache file: export again and replace it
                self.from_cache = False
        graph = self._export(model, state, int8)
        self._session = ort.InferenceSession(graph, opts, providers=cpu)
        _write_cached(path, graph)

    def _export(self, model: BSRNN, state, int8: bool) -> bytes:
        channels, names = self.channels, self._names
        example = (torch.zeros(channels, model.cfg.n_bins, 2), *[t for hc in state for t in hc])
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _StepGraph(model).eval(),
                example,
                buf,
                dynamo=False,
                opset_version=17,
                input_names=["spec", *names],
                output_names=["masks", *[f"new_{n}" for n in names]],
            )
        return _int8(buf.getvalue()) if int8 else buf.getvalue()

    def init_state(self) -> list[np.ndarray]:
        return [np.zeros(s, np.float32) for s in self._state_shapes]

    def __call__(
        self, spec: np.ndarray, state: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(c, f, 2) float32 and state -> (masks (c, s, f, 2), state)."""
        feeds = {"spec": spec, **dict(zip(self._names, state, strict=True))}
        masks, *new = self._session.run(None, feeds)
        return masks, new
