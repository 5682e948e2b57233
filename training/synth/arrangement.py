"""A whole song's plan: tempo, key, sections, and every part's notes, from one random generator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.synth.grooves import SWUNG, choose_groove, choose_kit, drum_part
from training.synth.melody import MelodyLine, harmony_line, section_melody
from training.synth.notes import Note, Part, Section
from training.synth.parts import ROLE_PROGRAMS, accompaniment_part, bass_part, choose_roles
from training.synth.theory import SCALES, Key, choose_progression
from training.synth.voice import VoiceSpec

STRUCTURES: tuple[tuple[str, ...], ...] = (
    ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"),
    ("intro", "verse", "verse", "chorus", "break", "chorus", "outro"),
    ("verse", "chorus", "verse", "chorus", "solo", "chorus"),
    ("intro", "chorus", "verse", "chorus", "bridge", "chorus"),
    ("intro", "verse", "prechorus", "chorus", "verse", "prechorus", "chorus", "outro"),
)
ENERGY = {
    "intro": 0.35,
    "verse": 0.45,
    "prechorus": 0.6,
    "chorus": 0.85,
    "bridge": 0.5,
    "break": 0.25,
    "solo": 0.75,
    "outro": 0.4,
}


@dataclass
class VocalPart:
    """A sung part: a voice, its lines, and how it ornaments them."""

    name: str
    voice: VoiceSpec
    lines: list[MelodyLine]
    lead: bool = True


@dataclass
class Arrangement:
    """Everything needed to render a song; times in beats until ``seconds_at``."""

    tempo: float
    beats_per_bar: int
    key: Key
    groove: str
    swing: float  # fraction of a beat by which off-beat eighths are late
    sections: list[Section]
    parts: list[Part] = field(default_factory=list)
    vocals: list[VocalPart] = field(default_factory=list)
    window_beat: float = 0.0  # the beat where the rendered excerpt starts

    def seconds_at(self, beat: float) -> float:
        """Seconds from the excerpt's start to ``beat``, with swing applied."""
        frac = beat % 1.0
        if self.swing and abs(frac - 0.5) < 1e-6:
            beat += self.swing
        return (beat - self.window_beat) * 60.0 / self.tempo

    def describe(self) -> dict:
        """A JSON-friendly summary, stored next to each generated song."""
        return {
            "tempo": round(self.tempo, 2),
            "beats_per_bar": self.beats_per_bar,
            "key": f"{self.key.tonic}:{self.key.mode}",
            "groove": self.groove,
            "swing": round(self.swing, 3),
            "window_beat": self.window_beat,
            "sections": [(s.name, s.bars, s.vocals, s.drums) for s in self.sections],
            "parts": [(p.name, p.stem, p.program) for p in self.parts],
            "voices": [(v.name, v.voice.name) for v in self.vocals],
        }


def make_arrangement(
    rng: np.random.Generator, seconds: float, voices: list[VoiceSpec]
) -> Arrangement:
    """A random song long enough for an excerpt of ``seconds`` that has vocals and drums."""
    beats_per_bar = 3 if rng.random() < 0.1 else 4
    groove = choose_groove(rng, beats_per_bar)
    tempo = float(rng.uniform(70, 150))
    if groove in ("halftime", "hiphop", "ballad", "onedrop"):
        tempo = float(rng.uniform(70, 105))
    mode = str(rng.choice(list(SCALES), p=[0.5, 0.35, 0.08, 0.07]))
    key = Key(int(rng.integers(12)), mode)
    swing = float(rng.uniform(0.12, 0.17)) if groove in SWUNG else 0.0
    bar_seconds = beats_per_bar * 60.0 / tempo
    sections = _plan_sections(rng, key, bar_seconds, seconds)
    arr = Arrangement(tempo, beats_per_bar, key, groove, swing, sections)

    arr.parts.append(drum_part(rng, sections, groove, beats_per_bar, choose_kit(rng, groove)))
    arr.parts.append(bass_part(rng, sections, key, beats_per_bar, groove))
    for i, role in enumerate(choose_roles(rng, groove)):
        arr.parts.append(accompaniment_part(rng, role, sections, beats_per_bar, i))

    voice = voices[rng.integers(len(voices))]
    center = int(rng.integers(62, 69)) if voice.female else int(rng.integers(52, 58))
    phrase_bars = 1 if bar_seconds > 2.6 else 2
    lead: list[MelodyLine] = []
    used: set[str] = set()
    chorus_lines: list[MelodyLine] | None = None
    for sec in sections:
        if not sec.vocals:
            continue
        if sec.name == "chorus" and chorus_lines is not None:
            # Choruses repeat their words and tune.
            shift = (
                sec.start_bar - sections_named(sections, "chorus")[0].start_bar
            ) * beats_per_bar
            lead += [_shifted(line, shift) for line in chorus_lines]
            continue
        c = center + (3 if sec.name == "chorus" else 0)
        lines = section_melody(rng, sec, key, c, beats_per_bar, phrase_bars, used)
        if sec.name == "chorus":
            chorus_lines = lines
        lead += lines
    arr.vocals.append(VocalPart("lead", voice, lead))
    if rng.random() < 0.35:
        # A harmony in the choruses, by the same or another voice.
        hv = voices[rng.integers(len(voices))]
        steps = (
            int(rng.choice([2, -3])) if hv.female == voice.female else (-7 if not hv.female else 7)
        )
        in_chorus = [line for line in lead if _in_section(line, sections, "chorus", beats_per_bar)]
        if in_chorus:
            harm = [harmony_line(line, key, steps) for line in in_chorus]
            arr.vocals.append(VocalPart("harmony", hv, harm, lead=False))
    if any(s.name == "solo" for s in sections) or rng.random() < 0.3:
        arr.parts.append(_lead_instrument(rng, sections, key, center, beats_per_bar, phrase_bars))
    arr.window_beat = _choose_window(rng, sections, beats_per_bar, bar_seconds, seconds)
    return arr


def sections_named(sections: list[Section], name: str) -> list[Section]:
    """The sections called ``name``, in order."""
    return [s for s in sections if s.name == name]


def _shifted(line: MelodyLine, beats: float) -> MelodyLine:
    return MelodyLine(
        line.text, [Note(n.beat + beats, n.length, n.key, n.velocity) for n in line.notes]
    )


def _in_section(line: MelodyLine, sections: list[Section], name: str, bpb: int) -> bool:
    b = line.notes[0].beat
    return any(
        s.name == name and s.start_bar * bpb <= b < (s.start_bar + s.bars) * bpb for s in sections
    )


def _plan_sections(
    rng: np.random.Generator, key: Key, bar_seconds: float, seconds: float
) -> list[Section]:
    structure = STRUCTURES[rng.integers(len(STRUCTURES))]
    verse, chorus = choose_progression(rng, key), choose_progression(rng, key)
    bridge = choose_progression(rng, key)
    sections: list[Section] = []
    bar = 0
    # Enough sections for the excerpt to start anywhere in the first half of the song.
    while bar * bar_seconds < 2.2 * seconds + 8 * bar_seconds:
        for name in structure:
            bars = {"intro": int(rng.choice([2, 4])), "outro": 4, "break": 4, "prechorus": 4}.get(
                name, int(rng.choice([4, 8, 8]))
            )
            prog = {"chorus": chorus, "bridge": bridge, "prechorus": bridge}.get(name, verse)
            # One chord per half bar or per bar, cycling through the progression.
            per_bar = rng.random() < 0.3
            chords = [c for c in prog for _ in range(1 if per_bar else 2)]
            sec = Section(name, bar, bars, chords, energy=ENERGY[name] + rng.uniform(-0.1, 0.1))
            sec.vocals = name in ("verse", "chorus", "prechorus") or (
                name == "bridge" and rng.random() < 0.6
            )
            sec.drums = not (name == "break" or (name == "intro" and rng.random() < 0.5))
            if name == "verse" and rng.random() < 0.15:
                sec.drums = False  # a verse carried by the band alone
            sections.append(sec)
            bar += bars
    return sections


def _lead_instrument(
    rng: np.random.Generator,
    sections: list[Section],
    key: Key,
    center: int,
    bpb: int,
    phrase_bars: int,
) -> Part:
    """A lead instrument (sax, flute, synth...) playing tunes where nobody sings."""
    program = int(rng.choice(ROLE_PROGRAMS["lead"]))
    notes = []
    used: set[str] = set()
    for sec in sections:
        if sec.vocals:
            continue
        for line in section_melody(
            rng, sec, key, 72 if center < 60 else center + 5, bpb, phrase_bars, used
        ):
            notes += line.notes
    return Part("lead", "other", program, notes=notes)


def _choose_window(
    rng: np.random.Generator, sections: list[Section], bpb: int, bar_seconds: float, seconds: float
) -> float:
    """Where the excerpt starts: at a section start, so that it holds vocals and drums."""
    starts = [
        s
        for s in sections
        if s.start_bar * bar_seconds + seconds < sum(x.bars for x in sections) * bar_seconds
    ]
    good = []
    for s in starts:
        t0, t1 = s.start_bar * bar_seconds, s.start_bar * bar_seconds + seconds
        vox = drm = 0.0
        for x in sections:
            a, b = max(t0, x.start_bar * bar_seconds), min(t1, (x.start_bar + x.bars) * bar_seconds)
            if b > a:
                vox += (b - a) * x.vocals
                drm += (b - a) * x.drums
        if vox >= 0.35 * seconds and drm >= 0.35 * seconds:
            good.append(s)
    if not good:
        good = [s for s in sections if s.vocals] or sections
    first = good[0]
    pick = first if rng.random() < 0.5 else good[rng.integers(len(good))]
    # Start at the section, or a bar or two earlier to catch the end of the one before.
    bar = max(0, pick.start_bar - int(rng.integers(0, 3)))
    return float(bar * bpb)
