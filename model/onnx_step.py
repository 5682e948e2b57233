"""The model's per-frame step run by onnxruntime: the same numbers, less overhead per hop.

A streamed hop runs a hundred small operations; in eager PyTorch each costs a
few microseconds of dispatch, which is most of the hop. Exported once (under
a second) and run by onnxruntime, the step is about 1.5x faster.
"""

from __future__ import annotations

import io
import warnings

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


def live_backend(int8: bool) -> str:
    """The separator backend live streaming runs: int8 when asked (and onnxruntime is
    installed), else ``auto``."""
    return "onnx-int8" if int8 and onnxruntime_available() else "auto"


class OnnxStep:
    """``step`` for a fixed channel count, on numpy arrays, by onnxruntime on one thread;
    ``int8``: with int8 weights (faster, close but not equal to the float step)."""

    def __init__(self, model: BSRNN, channels: int, int8: bool = False) -> None:
        import onnxruntime as ort

        self.channels = channels
        state = model.init_state(channels)
        self._state_shapes = [t.shape for hc in state for t in hc]
        names = [f"s{i}" for i in range(len(self._state_shapes))]
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
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        graph = _int8(buf.getvalue()) if int8 else buf.getvalue()
        self._session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        self._names = names

    def init_state(self) -> list[np.ndarray]:
        return [np.zeros(s, np.float32) for s in self._state_shapes]

    def __call__(
        self, spec: np.ndarray, state: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(c, f, 2) float32 and state -> (masks (c, s, f, 2), state)."""
        feeds = {"spec": spec, **dict(zip(self._names, state, strict=True))}
        masks, *new = self._session.run(None, feeds)
        return masks, new
