"""The note-level vocabulary shared by the arrangement modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.synth.theory import Chord


@dataclass(frozen=True)
class Note:
    """A note in beats from the song's start (``key`` is a MIDI key or a GM drum note)."""

    beat: float
    length: float
    key: int
    velocity: int


@dataclass
class Section:
    """A stretch of bars with one role (verse, chorus...) and what plays in it."""

    name: str
    start_bar: int
    bars: int
    chords: list[Chord]  # one chord per half bar
    vocals: bool = True
    drums: bool = True
    energy: float = 0.5  # 0 quiet .. 1 loud; drives velocities and part choices


@dataclass
class Part:
    """An instrument part rendered through the SoundFont into one stem."""

    name: str
    stem: str  # "bass", "drums" or "other"
    program: int
    drums: bool = False
    notes: list[Note] = field(default_factory=list)
    bends: list[tuple[float, int]] = field(default_factory=list)  # (beat, 14-bit bend)
