"""Augmentation of training batches beyond the paper's remix: real voices, stem colour,
pitch/tempo changes and band limits, so that the model learns music rather than the
generator's few timbres and its synthetic voices.

Axes: b batch item, s stem (vocals, bass, drums, other), c channel, n sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.real_vocals import InstrumentCorpus, VocalCorpus, band_limit, rms, vocal_chain
from training.synth import effects as fx

STEMS = ("vocals", "bass", "drums", "other")
_LOADED: dict[tuple[str, str], object] = {}  # corpora by kind and resolved folders


def _loaded(kind: str, roots: str, make):
    """``make(folders)`` of comma-separated ``roots``, loaded once per process."""
    folders = [r.strip() for r in roots.split(",") if r.strip()]
    key = (kind, ",".join(str(Path(r).resolve()) for r in folders))
    if key not in _LOADED:
        _LOADED[key] = make(folders)
    return _LOADED[key]


def vocal_corpus(roots: str) -> VocalCorpus:
    """The training clips of one or more comma-separated folders (``stemlive data mir1k``,
    ``stemlive data sung-speech``), loaded once per process."""
    return _loaded("vocals", roots, lambda folders: VocalCorpus(folders, "train"))


def instrument_corpus(roots: str, track: str = "guitar") -> InstrumentCorpus:
    """The real recordings ``<song>/<track>.wav`` of comma-separated folders, loaded once
    per process."""
    return _loaded(f"instruments/{track}", roots, lambda f: InstrumentCorpus(f, track))


def _against(x: np.ndarray, rest: np.ndarray, floor: float, rng, low: float, high: float):
    """``x`` scaled to low..high dB (uniform) against ``rest``'s level (0.1 if it is silent)."""
    level = rms(rest)
    level = (level if level > floor else 0.1) * 10 ** (rng.uniform(low, high) / 20)
    return x * (level / (rms(x) + 1e-9))


def real_instrument(
    pool: InstrumentCorpus, rest: np.ndarray, cfg, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """A real instrument (c, n), sometimes coloured, -6..+6 dB against ``rest`` (c, n)."""
    floor = 10 ** (cfg.min_rms_db / 20)
    x = pool.segment(rng, rest.shape[-1], floor)
    if rng.random() < 0.5:
        x = x[::-1]
    if rng.random() < 0.5:
        x = colour(x, sample_rate, rng)
    return _against(x, rest, floor, rng, -6, 6)


def voice_gap(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A gain curve (n,) that silences a random span of 20-100 % of ``n`` samples, with 10 ms
    ramps: the rests between a singer's phrases (all of it: the backing alone)."""
    span = int(n * rng.uniform(0.2, 1.0))
    start = int(rng.integers(n - span + 1))
    ramp = min(int(0.01 * sample_rate), span // 2)
    gain = np.ones(n, np.float32)
    gain[start : start + span] = 0.0
    if ramp:
        fade = np.linspace(1.0, 0.0, ramp + 2, dtype=np.float32)[1:-1]
        if start > 0:
            gain[start : start + ramp] = fade
        if start + span < n:
            gain[start + span - ramp : start + span] = fade[::-1]
    return gain


def speed_ratio(rng: np.random.Generator, p: float, semitones: float) -> float:
    """1, or with chance ``p`` a playback-speed ratio of up to +-``semitones``."""
    if p and rng.random() < p:
        return float(2 ** (rng.uniform(-semitones, semitones) / 12))
    return 1.0


def resample_to(x: np.ndarray, n: int) -> np.ndarray:
    """(c, m) played at another speed so that it lasts ``n`` samples: (c, n) float32."""
    import soxr

    if x.shape[-1] == n:
        return x
    y = soxr.resample(x.T, x.shape[-1], n, quality="LQ").T
    out = np.zeros((x.shape[0], n), np.float32)
    out[:, : min(n, y.shape[-1])] = y[:, :n]
    return out


def colour(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A stem (c, n) with a random EQ, and sometimes saturation or compression."""
    rms = np.sqrt(np.mean(x**2))
    if rms < 1e-6:
        return x
    y = fx.apply_gain_curve(x, sample_rate, fx.random_eq(rng, 1.5))
    if rng.random() < 0.3:
        drive = rng.uniform(1.5, 6.0)
        peak = np.max(np.abs(y)) + 1e-9
        y = np.tanh(drive * y / peak) * peak / drive
    if rng.random() < 0.3:
        y = fx.compress(y, sample_rate, 20 * np.log10(rms) - rng.uniform(0, 10), rng.uniform(2, 6))
    return (y * (rms / (np.sqrt(np.mean(y**2)) + 1e-9))).astype(np.float32)


def _overdrive(x: np.ndarray, rng: np.random.Generator, max_bias: float) -> np.ndarray:
    """``x`` clipped by tanh, driven 6-24 dB over its level, with a bias of 0..``max_bias``
    (asymmetric: even harmonics too) taken out again so that silence stays silent."""
    drive = 10 ** (rng.uniform(6, 24) / 20) / (rms(x) + 1e-9)
    bias = rng.uniform(0.0, max_bias)
    return np.tanh(drive * x + bias) - np.tanh(bias)


def _at_level(y: np.ndarray, level: float) -> np.ndarray:
    """``y`` scaled to RMS ``level``, float32: an effect that keeps its input's level."""
    return (y * (level / (rms(y) + 1e-9))).astype(np.float32)


def amp(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A stem (c, n) through a guitar amp: a mid push, clipping driven 6-24 dB over the
    stem's level (asymmetric: even harmonics too) and a speaker cabinet's low-pass at
    3-6 kHz; its level kept. The generator's soundfont parts played like a distorted rock
    guitar: dense harmonics across the voice's register, the sound real records carry
    beside the voice and the generator's clean parts lack."""
    level = rms(x)
    if level < 1e-6:
        return x
    hp, mid, push = rng.uniform(80, 300), rng.uniform(500, 1500), rng.uniform(3, 12)
    y = fx.apply_gain_curve(
        x, sample_rate, lambda f: fx.highpass_db(f, hp) + fx.bell_db(f, mid, push, 1.5)
    )
    y = _overdrive(y, rng, max_bias=0.3)
    cab, notch = rng.uniform(3000, 6000), rng.uniform(300, 600)
    y = fx.apply_gain_curve(
        y,
        sample_rate,
        lambda f: fx.highpass_db(f, 70) + fx.lowpass_db(f, cab) + fx.bell_db(f, notch, -4, 1.0),
    )
    return _at_level(y, level)


def bass_drive(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A bass stem (c, n) through a rock bass rig: the clean low end beside a driven copy
    of its upper part (high-passed at 150-400 Hz, clipped 6-24 dB over its level, slightly
    asymmetric, a cabinet low-pass at 2.5-5 kHz) mixed -9..+3 dB against the clean signal;
    its level kept. Generated basses put about 6 dB less into 250-500 Hz (against 30-250
    Hz) than Falcon 69's (median), and 12 dB less into 500-1000 Hz: a driven bass's
    harmonics in the voice's register are part of what the real clip's vocal estimate took."""
    level = rms(x)
    if level < 1e-6:
        return x
    hp = rng.uniform(150, 400)
    upper = fx.apply_gain_curve(x, sample_rate, lambda f: fx.highpass_db(f, hp))
    driven = _overdrive(upper, rng, max_bias=0.2)
    cab = rng.uniform(2500, 5000)
    driven = fx.apply_gain_curve(
        driven, sample_rate, lambda f: fx.highpass_db(f, 100) + fx.lowpass_db(f, cab)
    )
    blend = level * 10 ** (rng.uniform(-9, 3) / 20) / (rms(driven) + 1e-9)
    y = x + blend * driven
    return _at_level(y, level)


def sub_bass(x: np.ndarray, sample_rate: int, corner: float) -> np.ndarray:
    """A bass stem (c, n) made a sub bass, its level kept: a steep low-pass (8th order) at
    ``corner`` Hz (training draws 60-140) leaves little but the fundamental, the near-sine
    of an 808 or a synth sub. Driven basses alone (``bass_drive``) taught the model that a
    bass has harmonics in the mids: a pure 55 Hz sine then went half to the drums."""
    level = rms(x)
    if level < 1e-6:
        return x
    y = fx.apply_gain_curve(x, sample_rate, lambda f: fx.lowpass_db(f, corner, 8))
    return _at_level(y, level)


def _band_power(x: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spec = np.abs(np.fft.rfft(x.mean(0))) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate)
    return float(spec[(f >= low) & (f < high)].sum())


def brighten(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A voice (c, n) given a record's brightness, its level kept: a high shelf (corner
    0.8-1.6 kHz) that lifts its 1-4 kHz band to -14..-4 dB against its 250-1000 Hz band (by
    at most 20 dB; a brighter voice is left alone). MIR-1K's training voices sit at a median
    -15 dB there (10 % under -24), Falcon 69's belted vocal at -5.7; a model that hears
    mostly dark voices takes a bright voice's harmonics above 1 kHz for the guitar
    (``training/figures/falcon69_vocals_default.png``)."""
    body = _band_power(x, sample_rate, 250, 1000)
    level = rms(x)
    if body <= 0 or level < 1e-7:
        return x

    def tilt(z: np.ndarray) -> float:
        return 10 * np.log10(_band_power(z, sample_rate, 1000, 4000) / body + 1e-12)

    def shelf(gain: float) -> np.ndarray:
        return fx.apply_gain_curve(x, sample_rate, lambda f: fx.shelf_db(f, corner, gain, True))

    before = tilt(x)
    want = float(np.clip(rng.uniform(-14, -4) - before, 0.0, 20.0))
    corner = rng.uniform(800, 1600)
    if want == 0.0:
        return x
    y = shelf(want)
    got = tilt(y) - before  # the shelf lifts part of the band by less than its gain
    if got > 0:
        y = shelf(min(want * want / got, 30.0))
    return _at_level(y, level)


def real_voice(
    voices: VocalCorpus, rest: np.ndarray, cfg, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """A real voice (c, n) through a record's vocal chain, -8..+4 dB against ``rest`` (c, n)."""
    floor = 10 ** (cfg.min_rms_db / 20)
    voice, _ = voices.segment(rng, rest.shape[-1], floor)
    return _against(vocal_chain(voice, sample_rate, rng), rest, floor, rng, -8, 4)


def partial_voices(
    stems: np.ndarray, resid: np.ndarray, known: np.ndarray, cfg, seed: list[int], sample_rate: int
) -> None:
    """Semi-supervised items whose known stem is the vocals get, with the chance of a real
    voice in the main batch (``p_real_vocal + p_real_backing``), a real voice instead of
    the labeled corpus's, over their real no-vocal residual; in place."""
    if not cfg.vocal_root:
        return
    rng = np.random.default_rng([*seed, 3])
    voices = vocal_corpus(cfg.vocal_root)
    v = STEMS.index("vocals")
    for i in range(stems.shape[0]):
        if known[i, v] and rng.random() < cfg.p_real_vocal + cfg.p_real_backing:
            stems[i, v] = real_voice(
                voices, resid[i] + stems[i].sum(0) - stems[i, v], cfg, rng, sample_rate
            )


def augment_batch(
    batch: np.ndarray, cfg, seed: list[int], sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stems (b, s, c, n), residual (b, c, n), known (b, s)) from a remixed batch.

    ``cfg`` is a ``DataConfig``. Items whose vocal is a real voice over its own real
    backing carry the backing as the residual and know only their vocals.
    """
    rng = np.random.default_rng([*seed, 2])  # its own stream: the remix draws stay the same
    b, s, c, n = batch.shape
    resid = np.zeros((b, c, n), np.float32)
    known = np.ones((b, s), np.float32)
    voices = vocal_corpus(cfg.vocal_root) if cfg.vocal_root else None
    instruments = instrument_corpus(cfg.other_root) if cfg.p_real_other else None
    records = instrument_corpus(cfg.other_root, "mixture") if cfg.p_record_backing else None
    extra = np.random.default_rng([*seed, 4])  # their own stream: the other draws stay the same
    gaps = np.random.default_rng([*seed, 5])  # likewise
    amps = np.random.default_rng([*seed, 6])  # likewise
    bright = np.random.default_rng([*seed, 7])  # likewise
    recorded = np.random.default_rng([*seed, 8])  # likewise
    drives = np.random.default_rng([*seed, 9])  # likewise
    subs = np.random.default_rng([*seed, 10])  # likewise
    floor = 10 ** (cfg.min_rms_db / 20)
    v, b_, o = STEMS.index("vocals"), STEMS.index("bass"), STEMS.index("other")
    for i in range(b):
        if cfg.p_stem_fx:
            for j in range(s):
                if rng.random() < cfg.p_stem_fx:
                    batch[i, j] = colour(batch[i, j], sample_rate, rng)
        if voices is not None:
            u = rng.random()
            real = u < cfg.p_real_backing or (
                u < cfg.p_real_backing + cfg.p_real_vocal and rms(batch[i, v]) > 0
            )
            if (
                u < cfg.p_real_backing
                and records is not None
                and recorded.random() < cfg.p_record_backing
            ):
                # A real voice over a real instrumental record: only the vocals are known.
                record = records.segment(recorded, n, floor)
                if recorded.random() < 0.5:
                    record = colour(record, sample_rate, recorded)
                batch[i] = 0.0
                batch[i, v] = real_voice(voices, record, cfg, recorded, sample_rate)
                if recorded.random() < cfg.p_record_gap:
                    batch[i, v] *= voice_gap(n, sample_rate, recorded)
                resid[i] = record
                known[i] = 0.0
                known[i, v] = 1.0
            elif u < cfg.p_real_backing:
                voice, backing = voices.segment(rng, n, floor, backed=True)
                ratio = rms(voice) / (rms(backing) + 1e-9)
                sung = vocal_chain(voice, sample_rate, rng)
                back = np.stack([backing, backing])
                if rng.random() < 0.5:
                    back = colour(back, sample_rate, rng)
                level = rms(back) * min(ratio, 4.0) * 10 ** (rng.uniform(-6, 6) / 20)
                batch[i] = 0.0
                batch[i, v] = sung * (level / (rms(sung) + 1e-9))
                resid[i] = back
                known[i] = 0.0
                known[i, v] = 1.0
            elif real:
                batch[i, v] = real_voice(
                    voices, batch[i].sum(0) - batch[i, v], cfg, rng, sample_rate
                )
            if real and cfg.p_bright_voice and bright.random() < cfg.p_bright_voice:
                batch[i, v] = brighten(batch[i, v], sample_rate, bright)
            if real and cfg.p_voice_gap and gaps.random() < cfg.p_voice_gap:
                batch[i, v] *= voice_gap(n, sample_rate, gaps)
        if cfg.vocal_db:
            batch[i, v] *= 10 ** (cfg.vocal_db / 20)
        if cfg.p_bass_drive and drives.random() < cfg.p_bass_drive:
            batch[i, b_] = bass_drive(batch[i, b_], sample_rate, drives)
        elif cfg.p_bass_sub and subs.random() < cfg.p_bass_sub:
            batch[i, b_] = sub_bass(batch[i, b_], sample_rate, subs.uniform(60, 140))
        if cfg.p_amp and amps.random() < cfg.p_amp:
            batch[i, o] = amp(batch[i, o], sample_rate, amps)
        if instruments is not None and extra.random() < cfg.p_real_other:
            rest = batch[i].sum(0) + resid[i] - batch[i, v]
            played = real_instrument(instruments, rest, cfg, extra, sample_rate)
            if known[i, o]:
                batch[i, o] += played
            else:  # a real voice over its own backing: the guitar joins the unknown rest
                resid[i] += played
        if cfg.p_band_limit and rng.random() < cfg.p_band_limit:
            cutoff = rng.uniform(6500, 8000)
            batch[i] = band_limit(batch[i], sample_rate, cutoff)
            resid[i] = band_limit(resid[i], sample_rate, cutoff)
    return batch, resid, known
