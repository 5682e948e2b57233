"""The arrangement of a generated song as a Standard MIDI File, to inspect or re-render it.

One track per part (drums on channel 10), the vocal parts as melody tracks with
their lyric syllables as MIDI lyric events. Times follow the excerpt, swing and
all; notes before the excerpt are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from training.synth.arrangement import Arrangement
from training.synth.melody import MelodyLine

TICKS_PER_BEAT = 480


def write_midi(arr: Arrangement, path: Path, seconds: float) -> None:
    """Write the parts and vocal melodies of ``arr`` within ``seconds`` to ``path``."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.bpm2tempo(arr.tempo)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=arr.beats_per_bar, denominator=4))
    mid.tracks.append(meta)

    def ticks(sec: float) -> int:
        return int(round(mido.second2tick(sec, TICKS_PER_BEAT, tempo)))

    channels = iter([c for c in range(16) if c != 9])
    for part in arr.parts:
        ch = 9 if part.drums else next(channels)
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=f"{part.name} ({part.stem})", time=0))
        track.append(mido.Message("program_change", channel=ch, program=part.program, time=0))
        events = []
        for n in part.notes:
            on, off = arr.seconds_at(n.beat), min(seconds, arr.seconds_at(n.beat + n.length))
            if 0 <= on < seconds:
                msg = mido.Message("note_on", channel=ch, note=n.key, velocity=n.velocity)
                events.append((ticks(on), 1, msg))
                events.append((ticks(off), 0, mido.Message("note_off", channel=ch, note=n.key)))
        _append(track, events)
        mid.tracks.append(track)
    for vocal in arr.vocals:
        ch = next(channels)
        track = mido.MidiTrack()
        name = f"{vocal.name} vocal ({vocal.voice.name})"
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        # A flute as the guide instrument for the sung melody.
        track.append(mido.Message("program_change", channel=ch, program=73, time=0))
        events = []
        for line in vocal.lines:
            events += _line_events(arr, line, ch, seconds, ticks)
        _append(track, events)
        mid.tracks.append(track)
    mid.save(path)


def _line_events(
    arr: Arrangement, line: MelodyLine, ch: int, seconds: float, ticks: Callable[[float], int]
) -> list:
    import mido

    syllables = [s for word in line.text.split() for s in word.split("-")]
    out = []
    for i, n in enumerate(line.notes):
        on, off = arr.seconds_at(n.beat), min(seconds, arr.seconds_at(n.beat + n.length))
        if not 0 <= on < seconds:
            continue
        if i < len(syllables):
            out.append((ticks(on), 1, mido.MetaMessage("lyrics", text=syllables[i])))
        msg = mido.Message("note_on", channel=ch, note=n.key, velocity=n.velocity)
        out.append((ticks(on), 2, msg))
        out.append((ticks(off), 0, mido.Message("note_off", channel=ch, note=n.key)))
    return out


def _append(track: list, events: list) -> None:
    # Note-offs before note-ons at the same tick, so repeated notes are not cut short.
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
