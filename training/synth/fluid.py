"""In-process SoundFont rendering through libfluidsynth (ctypes), one part at a time.

ctypes rather than a Python binding: the binding on PyPI returns 16-bit samples and
we want float; the five calls we need are stable across fluidsynth 2.x.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_BLOCK = 64  # fluidsynth's internal block size (FLUID_BUFSIZE)


@dataclass(frozen=True)
class MidiEvent:
    """One event of a part: ``kind`` is "on", "off", "cc" or "bend"; time in seconds."""

    time: float
    kind: str
    a: int = 0  # key, controller number or bend value
    b: int = 0  # velocity or controller value


def _load_library() -> ctypes.CDLL:
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise StemliveError(
            "libfluidsynth is not installed; run scripts/install_synth_packages.sh"
        ) from exc
    vp, cp, ci, cd = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double
    lib.new_fluid_settings.restype = vp
    lib.fluid_settings_setnum.argtypes = [vp, cp, cd]
    lib.fluid_settings_setint.argtypes = [vp, cp, ci]
    lib.new_fluid_synth.restype = vp
    lib.new_fluid_synth.argtypes = [vp]
    lib.fluid_synth_sfload.argtypes = [vp, cp, ci]
    lib.fluid_synth_program_select.argtypes = [vp, ci, ci, ci, ci]
    lib.fluid_synth_noteon.argtypes = [vp, ci, ci, ci]
    lib.fluid_synth_noteoff.argtypes = [vp, ci, ci]
    lib.fluid_synth_cc.argtypes = [vp, ci, ci, ci]
    lib.fluid_synth_pitch_bend.argtypes = [vp, ci, ci]
    lib.fluid_synth_system_reset.argtypes = [vp]
    lib.fluid_synth_write_float.argtypes = [vp, ci, vp, ci, ci, vp, ci, ci]
    lib.delete_fluid_synth.argtypes = [vp]
    lib.delete_fluid_settings.argtypes = [vp]
    return lib


class FluidRenderer:
    """A SoundFont synthesiser for the parts of one song, rendered in a fixed order.

    Make a new one per song: fluidsynth's voices keep a trace of what they played
    (outputs differ by ~1e-3 after other parts), so a renderer reused across songs
    would make a song depend on which songs its process made before. A new synth
    is cheap: libfluidsynth caches the SoundFont's samples per process.
    Reverb and chorus are off: effects are applied later per part.
    """

    def __init__(self, sample_rate: int, soundfont: Path = DEFAULT_SOUNDFONT) -> None:
        if not Path(soundfont).is_file():
            raise StemliveError(
                f"SoundFont {soundfont} not found; run scripts/install_synth_packages.sh "
                "(Debian package fluid-soundfont-gm)"
            )
        self.sample_rate = sample_rate
        self._lib = _load_library()
        lib = self._lib
        self._settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(self._settings, b"synth.sample-rate", float(sample_rate))
        lib.fluid_settings_setnum(self._settings, b"synth.gain", 0.5)
        lib.fluid_settings_setint(self._settings, b"synth.reverb.active", 0)
        lib.fluid_settings_setint(self._settings, b"synth.chorus.active", 0)
        lib.fluid_settings_setint(self._settings, b"synth.polyphony", 256)
        lib.fluid_settings_setint(self._settings, b"synth.cpu-cores", 1)
        self._synth = lib.new_fluid_synth(self._settings)
        self._sfont = lib.fluid_synth_sfload(self._synth, str(soundfont).encode(), 1)
        if self._sfont < 0:
            raise StemliveError(f"fluidsynth could not load the SoundFont {soundfont}")

    def render(
        self,
        events: Sequence[MidiEvent],
        num_samples: int,
        program: int,
        bank: int = 0,
        drums: bool = False,
    ) -> np.ndarray:
        """Render one part's events into ``num_samples`` frames, shape (2, samples) float32."""
        lib, synth = self._lib, self._synth
        chan = 9 if drums else 0
        lib.fluid_synth_system_reset(synth)
        bank = 128 if drums else bank
        if lib.fluid_synth_program_select(synth, chan, self._sfont, bank, program) != 0:
            raise StemliveError(f"the SoundFont has no preset {bank}:{program}")
        # fluidsynth computes 64-frame blocks and keeps the unread rest of a block for the
        # next call: rendering whole blocks, with events on block edges (1.5 ms at
        # 44.1 kHz), is what makes one part's output independent of the previous part.
        padded = -(-num_samples // _BLOCK) * _BLOCK
        out = np.zeros((2, padded), dtype=np.float32)
        left, right = out[0], out[1]
        pos = 0
        for ev in sorted(events, key=lambda e: (e.time, e.kind != "off")):
            at = int(round(ev.time * self.sample_rate / _BLOCK)) * _BLOCK
            at = min(padded, max(pos, at))
            if at > pos:
                self._write(left, right, pos, at - pos)
                pos = at
            if pos >= padded:
                break
            if ev.kind == "on":
                lib.fluid_synth_noteon(synth, chan, ev.a, ev.b)
            elif ev.kind == "off":
                lib.fluid_synth_noteoff(synth, chan, ev.a)
            elif ev.kind == "cc":
                lib.fluid_synth_cc(synth, chan, ev.a, ev.b)
            elif ev.kind == "bend":
                lib.fluid_synth_pitch_bend(synth, chan, ev.a)
        if pos < padded:
            self._write(left, right, pos, padded - pos)
        # Silence whatever still rings so the next part starts from nothing.
        lib.fluid_synth_system_reset(synth)
        scratch = np.zeros((2, 4096), dtype=np.float32)
        self._write(scratch[0], scratch[1], 0, 4096)
        return out[:, :num_samples]

    def _write(self, left: np.ndarray, right: np.ndarray, start: int, count: int) -> None:
        # fluidsynth writes in blocks of 64 frames internally; any count is fine.
        step = 128 * _BLOCK
        for s in range(start, start + count, step):
            n = min(step, start + count - s)
            self._lib.fluid_synth_write_float(
                self._synth,
                n,
                left[s:].ctypes.data,
                0,
                1,
                right[s:].ctypes.data,
                0,
                1,
            )

    def close(self) -> None:
        """Free the synthesiser (also done when the object is collected)."""
        if getattr(self, "_synth", None):
            self._lib.delete_fluid_synth(self._synth)
            self._lib.delete_fluid_settings(self._settings)
            self._synth = None

    def __enter__(self) -> FluidRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
