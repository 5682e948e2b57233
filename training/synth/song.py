"""Render one song from a seed: every part through its synthesiser and effects, mixed into stems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from training.synth import effects as fx
from training.synth.arrangement import Arrangement, VocalPart, make_arrangement
from training.synth.fluid import DEFAULT_SOUNDFONT, FluidRenderer, MidiEvent
from training.synth.notes import Part
from training.synth.voice import Expression, SungLine, SungNote, VoiceSpec, available_voices, sing

STEMS = ("vocals", "bass", "drums", "other")
SILENCE_RMS = 1e-4  # a stem quieter than -80 dBFS over the whole excerpt counts as silent


@dataclass
class Song:
    """A generated excerpt: stems (2, samples) float32 that add up to ``mixture``."""

    seed: int
    sample_rate: int
    stems: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)
    arrangement: Arrangement | None = None  # the plan it was rendered from (for MIDI export)

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems in float32, in the fixed order of ``STEMS``."""
        mix = np.zeros_like(self.stems[STEMS[0]])
        for name in STEMS:
            mix += self.stems[name]
        return mix


def generate_song(
    seed: int,
    seconds: float,
    sample_rate: int = 44100,
    soundfont: Path = DEFAULT_SOUNDFONT,
    voices: list[VoiceSpec] | None = None,
) -> Song:
    """The song of ``seed``: same seed, same arguments, same samples (bit for bit)."""
    if seconds <= 0:
        raise StemliveError(f"song length must be positive, got {seconds} s")
    voices = available_voices() if voices is None else voices
    if not voices:
        raise StemliveError(
            "no mbrola voice found (needs mbrola, espeak-ng and mbrola-us1...); "
            "run scripts/install_synth_packages.sh"
        )
    # A rare arrangement can leave a stem silent in the excerpt; try again from a
    # generator derived from the same seed, so the result stays a function of it.
    for attempt in range(6):
        rng = np.random.default_rng([seed, attempt])
        song = _render(rng, seed, seconds, sample_rate, soundfont, voices)
        quiet = [s for s in STEMS if np.sqrt(np.mean(song.stems[s] ** 2)) < SILENCE_RMS]
        if not quiet:
            song.info["attempt"] = attempt
            return song
    raise StemliveError(f"seed {seed}: could not make a song where every stem sounds ({quiet})")


def _part_events(arr: Arrangement, part: Part, rng: np.random.Generator, seconds: float) -> list:
    events = [MidiEvent(0.0, "cc", 7, 100), MidiEvent(0.0, "cc", 10, 64)]
    jitter = rng.uniform(0.0, 0.008)
    for note in part.notes:
        on = arr.seconds_at(note.beat) + rng.normal(0, jitter)
        off = arr.seconds_at(note.beat + note.length)
        if on < 0 or on >= seconds:
            continue  # notes begun before the excerpt would start mid-sound
        events.append(MidiEvent(max(on, 0.0), "on", note.key, note.velocity))
        events.append(MidiEvent(max(off, on + 0.02), "off", note.key))
    return events


def _render(
    rng: np.random.Generator,
    seed: int,
    seconds: float,
    sr: int,
    soundfont: Path,
    voices: list[VoiceSpec],
) -> Song:
    arr = make_arrangement(rng, seconds, voices)
    n = int(round(seconds * sr))
    # Parts are mixed in the frequency domain: one FFT per part covers its EQ, its
    # panning and its reverb send; one inverse FFT per stem brings the stem back.
    # The FFT is long enough for the reverb tails, which are cut at n.
    size = fx.fft_size(n + int(3.2 * sr))
    f = fx.freqs(size, sr)
    spec = {s: np.zeros((2, size // 2 + 1), complex) for s in STEMS}
    send = {s: np.zeros((2, size // 2 + 1), complex) for s in STEMS}
    with FluidRenderer(sr, soundfont) as synth:
        for part in arr.parts:
            events = _part_events(arr, part, rng, seconds)
            audio = synth.render(events, n, part.program, drums=part.drums).astype(np.float64)
            rms = np.sqrt(np.mean(audio**2))
            if rms < 1e-6:
                continue
            audio *= 0.1 / rms
            if rng.random() < 0.4:
                audio = fx.compress(audio, sr, -20 - 10 * rng.random(), rng.uniform(2, 5))
            curve = fx.random_eq(rng, 0.8 if part.drums else 1.0)(f)
            if part.stem == "other" and rng.random() < 0.3:
                # Dark instruments too, so that "nothing up high" is not a vocal cue.
                curve = curve + fx.lowpass_db(f, rng.uniform(3000, 9000), 2)
            if part.stem == "bass":
                position, gain = rng.normal(0, 0.05), 0.0
            elif part.stem == "drums":
                position, gain = rng.normal(0, 0.1), 0.0
            else:
                position, gain = rng.uniform(-0.8, 0.8), rng.uniform(-8, 0)
            x = fx.rfft(audio, size) * (10 ** ((curve + gain) / 20) * fx.pan_gains(position))
            spec[part.stem] += x
            send[part.stem] += x * rng.uniform(0.0, 0.5 if part.stem != "bass" else 0.1)
    for vocal in arr.vocals:
        audio = _vocal(arr, vocal, rng, sr, n, seconds)
        if audio is not None:
            x = fx.rfft(audio, size)
            spec["vocals"] += x
            send["vocals"] += x
    # A room shared by the band, a plate and maybe an echo for the voice.
    room = fx.reverb_ir(
        rng, sr, rng.uniform(0.3, 2.0), rng.uniform(0.0, 0.03), rng.uniform(2000, 8000)
    )
    room_spec = fx.rfft(room, size)
    for s in ("bass", "drums", "other"):
        spec[s] += send[s] * room_spec * rng.uniform(0.1, 0.6)
    plate = fx.reverb_ir(
        rng, sr, rng.uniform(0.8, 2.5), rng.uniform(0.01, 0.06), rng.uniform(3000, 9000)
    )
    vox_ir = plate * rng.uniform(0.05, 0.4)
    if rng.random() < 0.35:
        echo = fx.echo_ir(
            sr, 60.0 / arr.tempo * rng.choice([0.5, 0.75, 1.0]), rng.uniform(0.2, 0.5)
        )
        vox_ir = _add_ir(vox_ir, echo * rng.uniform(0.1, 0.3))
    spec["vocals"] += send["vocals"] * fx.rfft(vox_ir[:, : size - n], size)
    if rng.random() < 0.35:
        # The whole mix low-passed (an old record, a cheap MP3): vocals are not the only
        # thing that can lack highs.
        cut = float(np.exp(rng.uniform(np.log(5000), np.log(16000))))
        lowpass = 10 ** (fx.lowpass_db(f, cut, 4) / 20)
        for s in STEMS:
            spec[s] *= lowpass
    stems = {s: fx.irfft(spec[s], size)[:, :n] for s in STEMS}

    # Stem balance as in a mix: each stem to a reference level, then its own offset.
    offsets = {"vocals": (-2, 4), "bass": (-6, 2), "drums": (-5, 3), "other": (-5, 3)}
    for s in STEMS:
        rms = np.sqrt(np.mean(stems[s] ** 2))
        if rms > 0:
            stems[s] *= 0.1 / rms * 10 ** (rng.uniform(*offsets[s]) / 20)
    # Short fades so that the cut at both ends never clicks.
    fade = min(n // 4, int(0.02 * sr))
    ramp = np.ones(n)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[n - fade :] = np.linspace(1, 0, fade)
    mix = sum(stems[s] for s in STEMS)
    peak = max(np.max(np.abs(mix)), max(np.max(np.abs(stems[s])) for s in STEMS), 1e-9)
    level = rng.uniform(0.3, 0.95) / peak
    out = {s: (stems[s] * ramp * level).astype(np.float32) for s in STEMS}
    info = arr.describe()
    info.update(seed=seed, seconds=seconds, sample_rate=sr)
    return Song(seed, sr, out, info, arr)


def _add_ir(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((2, max(a.shape[1], b.shape[1])))
    out[:, : a.shape[1]] += a
    out[:, : b.shape[1]] += b
    return out


def _vocal(
    arr: Arrangement, part: VocalPart, rng: np.random.Generator, sr: int, n: int, seconds: float
) -> np.ndarray | None:
    """A vocal part rendered, voiced, EQ'd, compressed, given air, panned: (2, n) or None."""
    lines = []
    for line in part.lines:
        notes = [
            SungNote(arr.seconds_at(x.beat), x.length * 60.0 / arr.tempo, float(x.key))
            for x in line.notes
        ]
        if notes[0].start < 0.0 or notes[0].start >= seconds:
            continue  # lines begun before the excerpt, or after it
        lines.append(SungLine(line.text, notes))
    if not lines:
        return None
    expr = Expression(
        vibrato_rate=rng.uniform(4.8, 6.5),
        vibrato_cents=rng.uniform(15, 60),
        vibrato_delay=rng.uniform(0.1, 0.35),
        scoop_cents=rng.uniform(0, 120),
        consonant_scale=rng.uniform(0.7, 1.1),
    )
    perf = sing(part.voice, lines, expr, rng, sr, n)
    voice = perf.audio.astype(np.float64)
    rms = np.sqrt(np.mean(voice**2))
    if rms < 1e-6:
        return None
    voice *= 0.1 / rms
    hp = rng.uniform(70, 160)
    voice = fx.apply_gain_curve(
        voice,
        sr,
        lambda f: (
            fx.highpass_db(f, hp, 2)
            + fx.random_eq(rng, 0.8)(f)
            + fx.bell_db(f, 3000, rng.uniform(0, 4), 2)
        ),
    )
    voice = fx.compress(voice, sr, -18 - 8 * rng.random(), rng.uniform(2, 6))
    voice = voice + fx.air_band(voice, sr, perf.noisy_intervals, perf.phrase_starts, rng)
    if part.lead:
        position = rng.normal(0, 0.08) if rng.random() < 0.7 else rng.uniform(-0.5, 0.5)
        gain = 0.0
    else:
        position = rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)
        gain = rng.uniform(-10, -4)
    stereo = fx.pan(voice, position) * 10 ** (gain / 20)
    if part.lead and rng.random() < 0.25:
        # A double-tracked voice: a delayed copy on the other side (ADT).
        d = int(rng.uniform(0.012, 0.03) * sr)
        double = np.zeros_like(voice)
        double[d:] = voice[:-d]
        stereo += fx.pan(double, -position if abs(position) > 0.2 else 0.6) * 0.5
    return stereo
