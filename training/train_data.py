"""Training batches from a MUSDB18-HQ-layout folder: random remixes, a pure function of the step.

Each batch is drawn from ``np.random.default_rng([seed, step])``, so the
data position of a run is just its step counter: resuming at step s gives
exactly the batches the interrupted run would have seen. A worker process
can compute batches ahead of the training step (``Prefetcher``).

Axes: b batch (songs), s stem, c channel, n sample.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from queue import Full

import numpy as np

from model.config import INPUT_LEVEL_DB
from model.errors import StemliveError

STEMS = ("vocals", "bass", "drums", "other")


@dataclass(frozen=True)
class DataConfig:
    """How training mixtures are made from the stems of a corpus."""

    root: str = "data/gen"
    segment_seconds: float = 2.0
    batch_size: int = 4  # stereo mixtures per step (each channel is a model batch item)
    remix: bool = True  # each stem from its own random song and offset (the paper's augmentation)
    gain_db: float = 6.0  # random gain per stem, uniform in +-gain_db
    p_silence: float = 0.1  # chance that a stem is silenced in a mixture
    p_swap: float = 0.5  # chance of a left/right swap per stem
    # Chance that a mixture is made mono (both channels their mean): live inputs often
    # are, and a model that hears the stereo field must not rely on it.
    p_mono: float = 0.0
    min_rms_db: float = -50.0  # energy filter: a stem segment quieter than this is redrawn
    seed: int = 0
    max_songs: int = 0  # 0: every song of the split
    # Semi-supervised "no-target" examples (see training.semisup): folders holding
    # one known stem plus a residual without it; only that stem's loss counts.
    partial_root: str = ""
    partial_batch: int = 0  # such examples added to every step
    # Consecutive steps that continue the same mixtures (>1: the trainer carries the
    # LSTM state from one segment to the next, so the model learns from this many
    # segments of context, as it has when streaming; 1: every step draws anew).
    carry_segments: int = 1
    # Real voices (training.real_vocals): one or more comma-separated folders (a prepared
    # MIR-1K, sung speech from training.sung_speech; clips are drawn uniformly from all
    # of them), the chance that an item's vocal stem is a real voice over the corpus's
    # other stems, and the chance that an item is a real voice over its own real backing
    # (only the vocals are known; the backing joins the mixture unlabelled; only clips
    # that have a backing, i.e. MIR-1K's, are drawn for these).
    vocal_root: str = ""
    p_real_vocal: float = 0.0
    p_real_backing: float = 0.0
    # Timbre and band augmentation: the chance per stem of a random colour (EQ,
    # saturation, compression) and of a pitch/tempo change of up to +-speed_semitones;
    # the chance that a whole item is low-passed at 6.5-8 kHz (a 16 kHz recording), so
    # that "nothing above 8 kHz" is no cue for any one stem.
    p_stem_fx: float = 0.0
    p_speed: float = 0.0
    speed_semitones: float = 2.0
    p_band_limit: float = 0.0
    # Real recorded instruments in "other": one or more comma-separated folders whose
    # <song>/guitar.wav (``stemlive data real``: the Frets on Fire songs' guitar, recorded
    # apart from the backing) is added, with chance p_real_other per item, to the item's
    # "other" stem (or to its unlabelled residual), -6..+6 dB against the rest. Real
    # distorted guitar is what the generator's songs lack and what real records are
    # full of; labels stay exact.
    other_root: str = ""
    p_real_other: float = 0.0
    # The share of the real-backing items (p_real_backing) whose real voice sings over a
    # real instrumental record instead of its own karaoke backing: a stretch of one of
    # other_root's <song>/mixture.wav (the Frets on Fire songs: drums, bass and distorted
    # guitars played and produced as records are), sometimes coloured, as the unlabelled
    # residual; only the vocals are known. What the real clip is (a singer over a rock
    # band) and neither the generator nor MIR-1K's karaoke backings sound like.
    p_record_backing: float = 0.0
    # The chance that a voice over a record rests for 20-100 % of its item (as
    # p_voice_gap, for these items only): the record alone, its distorted guitars
    # included, labelled "no vocals", where records leave the band alone between phrases.
    p_record_gap: float = 0.0
    # The chance per item that its generated "other" stem goes through a guitar amp
    # (``augment.amp``: mid push, hard asymmetric clipping, speaker cabinet): distorted
    # parts in the voice's register, beyond the few real guitar recordings.
    p_amp: float = 0.0
    # The chance per item that its bass stem goes through a driven bass rig
    # (``augment.bass_drive``): harmonics in the voice's register that belong to the bass.
    p_bass_drive: float = 0.0
    # The chance per item whose bass was not driven that its bass becomes a sub bass
    # (``augment.sub_bass``: little but the fundamental, as an 808 or a synth sub).
    p_bass_sub: float = 0.0
    # The chance that a real voice is brightened to a record's tilt (``augment.brighten``:
    # its 1-4 kHz band lifted to -14..-4 dB against its 250-1000 Hz band). MIR-1K's voices
    # are dark (median -15 dB there), records' belted vocals are not (Falcon 69: -5.7).
    p_bright_voice: float = 0.0
    # Rests in real voices: the chance that a real voice (over generated stems or over its
    # own backing) falls silent for a random 20-100 % of the item, labels following. Real
    # voices are cut where they sing, while records leave the backing alone between
    # phrases: without rests the model hears voice in every real backing.
    p_voice_gap: float = 0.0
    # The vocals of every item moved this many dB against the rest of its mixture (after
    # the draws above, labels following). Records mix the voice lower than the generator
    # and the real-voice draws do: the generator's vocals sit a median 2.8 dB under the
    # rest, the real voices -8..+4 dB (mean -2), Falcon 69's 7.2 dB under it.
    vocal_db: float = 0.0
    # Every item brought to this RMS (dBFS; 0: off, items only kept out of clipping), the
    # level the separator's ``input_level_db`` hands the network: it then never has to
    # learn the same music at other levels.
    input_level_db: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p_mono", "p_real_vocal", "p_real_backing", "p_stem_fx", "p_speed",
                     "p_band_limit", "p_silence", "p_swap", "p_real_other",
                     "p_voice_gap", "p_amp", "p_bright_voice", "p_record_backing",
                     "p_record_gap", "p_bass_drive", "p_bass_sub"):  # fmt: skip
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise StemliveError(f"data option {name} must be between 0 and 1, got {v}")
        if (self.p_real_vocal or self.p_real_backing) and not self.vocal_root:
            raise StemliveError(
                "real vocals (p_real_vocal, p_real_backing) need vocal_root: folders made "
                "by `stemlive data mir1k` or `stemlive data sung-speech`, comma-separated"
            )
        if not -20.0 <= self.vocal_db <= 20.0:
            raise StemliveError(f"data option vocal_db must be -20..20 dB, got {self.vocal_db}")
        low, high = INPUT_LEVEL_DB
        if not low <= self.input_level_db <= high:
            raise StemliveError(
                f"data option input_level_db must be {low:g}..{high:g} dB (0: off), "
                f"got {self.input_level_db}"
            )
        if (self.p_real_other or self.p_record_backing) and not self.other_root:
            raise StemliveError(
                "real instruments and records (p_real_other, p_record_backing) need "
                "other_root: folders of <song>/guitar.wav and mixture.wav made by "
                "`stemlive data real`, comma-separated"
            )
        if self.p_record_backing and not self.p_real_backing:
            raise StemliveError(
                "p_record_backing is a share of the real-backing items: set p_real_backing too"
            )

    @property
    def labelled_residual(self) -> bool:
        """Whether batches carry a residual and known-stem flags (tuples, not arrays)."""
        return self.p_real_backing > 0


class Corpus:
    """The stems of one split: per song a list of (c, n) int16 arrays, one per stem.

    Stems are ``<song>/<stem>.wav`` or ``.flac``, of any subtype. 16-bit PCM WAV files
    (what both corpus writers make) are memory-mapped, so that several trainers on one
    machine share one copy in the page cache; other formats are read into memory once,
    at 16 bits. A song whose four stems are all silent, or a stem silent in every song,
    is an error that names the files: it would train on nothing without a word.
    """

    def __init__(
        self, root: str | Path, split: str, names: list[str] | None = None, max_songs: int = 0
    ) -> None:
        folder = Path(root) / split
        if names is None:
            if not folder.is_dir():
                raise StemliveError(
                    f"no {split} split at {folder}: expected {folder}/<song>/"
                    "{vocals,bass,drums,other}.wav or .flac (MUSDB18-HQ layout); generate "
                    "one with `stemlive data synth --out DIR` or "
                    "`python -m training.train_corpus DIR`"
                )
            names = sorted(p.name for p in folder.iterdir() if all(stem_file(p, s) for s in STEMS))
            if max_songs:
                names = names[:max_songs]
        if not names:
            raise StemliveError(f"{folder} holds no complete song (needs all four stem files)")
        self.folder = folder
        self.names = list(names)
        self.songs: list[list[np.ndarray]] = []
        self.paths: list[list[Path]] = []  # per song, the file of each stem
        self.sample_rate = 0
        for name in self.names:
            stems, paths = [], []
            for s in STEMS:
                path = stem_file(folder / name, s)
                if path is None:
                    raise StemliveError(f"{folder / name} has no {s}.wav or {s}.flac")
                audio, sr = _read_int16(path)
                if self.sample_rate and sr != self.sample_rate:
                    raise StemliveError(f"{path} is at {sr} Hz, the corpus at {self.sample_rate}")
                self.sample_rate = sr
                if audio.shape[1] == 1:
                    audio = np.repeat(audio, 2, axis=1)
                stems.append(audio.T)
                paths.append(path)
            n = min(x.shape[1] for x in stems)
            self.songs.append([x[:, :n] for x in stems])
            self.paths.append(paths)
        self._check_silence()

    def __len__(self) -> int:
        return len(self.songs)

    def seconds(self) -> float:
        return sum(x[0].shape[-1] for x in self.songs) / self.sample_rate

    def _check_silence(self) -> None:
        """Refuse songs whose stems all read as silence, and a stem silent in every song."""
        silent = [[_is_silent(x) for x in song] for song in self.songs]
        dead = [k for k, flags in enumerate(silent) if all(flags)]
        if len(dead) == len(self):
            what, files = f"every stem of every song in {self.folder} reads", self.paths[0]
            more = f" and the other {len(dead) - 1} songs' stems" if len(dead) > 1 else ""
        elif dead:
            what = f"all four stems of {len(dead)} of the {len(self)} songs in {self.folder} read"
            files = self.paths[dead[0]]
            more = f" and those of {len(dead) - 1} more songs" if len(dead) > 1 else ""
        else:
            quiet = [i for i in range(len(STEMS)) if all(flags[i] for flags in silent)]
            if not quiet:
                return
            i = quiet[0]
            what = f"the {STEMS[i]} stem of every song in {self.folder} reads"
            files = [p[i] for p in self.paths[:3]]
            more = f" and {len(self) - 3} more" if len(self) > 3 else ""
        raise StemliveError(
            f"{what} as silence (no sample above -80 dBFS): "
            f"{', '.join(str(p) for p in files)}{more}. Training on it would learn nothing: "
            "check that these files hold audio, then remove or re-make them"
        )


def stem_file(song: Path, stem: str) -> Path | None:
    """``song/<stem>.wav``, else ``song/<stem>.flac``; None if neither is a file."""
    for ext in ("wav", "flac"):
        if (song / f"{stem}.{ext}").is_file():
            return song / f"{stem}.{ext}"
    return None


SILENT_PEAK = 3  # int16: a stem with no sample beyond this (-80 dBFS) reads as silence


def _is_silent(x: np.ndarray, chunk: int = 1 << 16) -> bool:
    """Whether no sample of (c, n) int16 ``x`` passes ``SILENT_PEAK``.

    Read in chunks that stop at the first sound: a stem that plays is decided after a few
    seconds of its file, so the check costs little even on a memory-mapped corpus of hours.
    """
    for i in range(0, x.shape[-1], chunk):
        seg = x[:, i : i + chunk]
        if seg.size and (seg.max() > SILENT_PEAK or seg.min() < -SILENT_PEAK):
            return False
    return True


def _read_int16(path: Path) -> tuple[np.ndarray, int]:
    """(n, c) int16 samples at full scale and the rate, from a WAV or FLAC file of any subtype.

    16-bit PCM WAV is a read-only memory map, other 16-bit PCM is read as it is; every
    other subtype (24/32-bit PCM, float, ...) is read as float and rounded to 16 bits
    (clipped at full scale): libsndfile does not scale float samples to integers, so
    reading a float file as int16 would give silence.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.subtype == "PCM_16":
            if info.format in ("WAV", "WAVEX"):
                offset = _wav_data_offset(path)
                if offset is not None:
                    shape = (info.frames, info.channels)
                    return np.memmap(path, np.dtype("<i2"), "r", offset, shape), info.samplerate
            audio, sr = sf.read(path, dtype="int16", always_2d=True)
            return audio, sr
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError, ValueError) as exc:
        raise StemliveError(f"cannot read {path}: {exc}") from None
    audio *= 32768.0
    np.round(audio, out=audio)
    np.clip(audio, -32768, 32767, out=audio)
    return audio.astype(np.int16), sr


def _wav_data_offset(path: Path) -> int | None:
    """Byte offset of a RIFF WAVE file's ``data`` chunk payload (None if not found)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                return f.tell()
            f.seek(size + (size & 1), 1)  # chunks are padded to even length


def _segment(x: np.ndarray, start: int, n: int) -> np.ndarray:
    """(c, n_song) int16 -> (c, n) float32, zero padded when the song is shorter."""
    out = np.zeros((x.shape[0], n), np.float32)
    seg = x[:, start : start + n]
    out[:, : seg.shape[1]] = seg / 32768.0
    return out


def make_batch(corpus: Corpus, cfg: DataConfig, step: int) -> np.ndarray:
    """Stems of the batch of ``step``: (b, s, c, n) float32; the mixture is their sum.

    With ``carry_segments`` K > 1, steps kK .. kK+K-1 are the consecutive segments of
    the same mixtures (one window of K segments, drawn and scaled as a whole).
    """
    k = max(1, cfg.carry_segments)
    if k == 1:
        return _draw(corpus, cfg, [cfg.seed, step], 1)
    n = int(round(cfg.segment_seconds * corpus.sample_rate))
    j = step % k
    # Steps come in order: draw each window once, not K times. The cache holds the corpus
    # itself (not its id, which a new corpus could reuse once this one is gone).
    c, dc, w, _ = _window
    if not (c is corpus and dc == cfg and w == step // k):
        _window[:] = [corpus, cfg, step // k, _draw(corpus, cfg, [cfg.seed, step // k, k], k)]
    window = _window[3]
    if isinstance(window, tuple):
        stems, resid, known = window
        part = slice(j * n, (j + 1) * n)
        return stems[..., part].copy(), resid[..., part].copy(), known.copy()
    return window[..., j * n : (j + 1) * n].copy()


_window: list = [None, None, -1, None]  # the last carried window: [corpus, cfg, index, stems]


def _draw(corpus: Corpus, cfg: DataConfig, seed: list[int], k: int) -> np.ndarray:
    """Mixtures of ``k`` segments each: (b, s, c, k n) float32."""
    rng = np.random.default_rng(seed)
    n = k * int(round(cfg.segment_seconds * corpus.sample_rate))
    floor = 10 ** (cfg.min_rms_db / 20)
    batch = np.zeros((cfg.batch_size, len(STEMS), 2, n), np.float32)
    # Its own generator, so that the mixtures drawn are the same whatever p_mono is.
    mono = np.random.default_rng([*seed, 1]).random(cfg.batch_size) < cfg.p_mono
    augmented = bool(
        cfg.p_stem_fx
        or cfg.p_speed
        or cfg.vocal_root
        or cfg.p_band_limit
        or cfg.p_real_other
        or cfg.p_amp
        or cfg.p_bass_drive
        or cfg.p_bass_sub
        or cfg.vocal_db
    )
    # Pitch/tempo changes draw from their own generator too.
    speed = np.random.default_rng([*seed, 3]) if cfg.p_speed else None
    if speed is not None:
        from training.augment import resample_to, speed_ratio
    for b in range(cfg.batch_size):
        song = int(rng.integers(len(corpus)))
        start = None
        for s in range(len(STEMS)):
            m = n
            if speed is not None:
                m = int(round(n * speed_ratio(speed, cfg.p_speed, cfg.speed_semitones)))
            # Redraw a silent segment a few times: silence teaches little (the paper's filter).
            for _ in range(4):
                if cfg.remix or start is None:
                    if cfg.remix:
                        song = int(rng.integers(len(corpus)))
                    length = corpus.songs[song][0].shape[-1]
                    start = int(rng.integers(max(1, length - m + 1)))
                seg = _segment(corpus.songs[song][s], start, m)
                if m != n:
                    seg = resample_to(seg, n)
                if not cfg.remix or np.sqrt(np.mean(seg**2)) >= floor:
                    break
            gain = 10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20)
            if rng.random() < cfg.p_silence:
                gain = 0.0
            if rng.random() < cfg.p_swap:
                seg = seg[::-1]
            batch[b, s] = gain * seg
        if mono[b] and not augmented:
            batch[b] = batch[b].mean(1, keepdims=True)
    if augmented:
        from training.augment import augment_batch

        batch, resid, known = augment_batch(batch, cfg, seed, corpus.sample_rate)
        batch[mono] = batch[mono].mean(2, keepdims=True)
        resid[mono] = resid[mono].mean(1, keepdims=True)
        scale = _item_scale(batch.sum(1) + resid, cfg)
        if cfg.labelled_residual:
            return batch * scale[:, None], resid * scale, known
        return batch * scale[:, None]
    return batch * _item_scale(batch.sum(1), cfg)[:, None]


def _item_scale(mix: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """(b, 1, 1) gains for mixtures (b, c, n): each at ``cfg.input_level_db`` RMS when that
    is set (as the separator's input level hands it to the network), else just out of
    clipping, as a real master would be."""
    if cfg.input_level_db:
        level = np.sqrt(np.mean(mix**2, axis=(-2, -1), keepdims=True))
        floor = 10 ** (cfg.min_rms_db / 20)
        return np.where(level > floor, 10 ** (cfg.input_level_db / 20) / (level + 1e-12), 1.0)
    peak = np.abs(mix).max(axis=(-2, -1), keepdims=True)
    return 1 / np.maximum(peak / 0.99, 1.0)


class PartialCorpus:
    """Songs with one known stem and a residual that holds none of it (``known.json``)."""

    def __init__(self, root: str | Path) -> None:
        import json

        folder = Path(root) / "train"
        self.items: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.sample_rate = 44100
        for song in sorted(folder.glob("*/known.json")):
            stem = json.loads(song.read_text())["known"]
            known, self.sample_rate = _read_int16(song.parent / f"{stem}.wav")  # any subtype
            resid, _ = _read_int16(song.parent / "residual.wav")
            self.items.append((STEMS.index(stem), known.T, resid.T))
        if not self.items:
            raise StemliveError(f"{folder} holds no partial song (*/known.json)")

    def __len__(self) -> int:
        return len(self.items)


def make_partial(
    partial: PartialCorpus, cfg: DataConfig, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stems (b, s, c, n), residual (b, c, n), known (b, s)) of the partial items of ``step``.

    With ``carry_segments`` K > 1 they are cut from one window of K segments, as the main
    batch is, so that a carried LSTM state continues the same partial items too.
    """
    k = max(1, cfg.carry_segments)
    if k == 1:  # its own stream ([seed, step, 1]): main batches unchanged
        return _draw_partial(partial, cfg, [cfg.seed, step, 1], 1)
    n = int(round(cfg.segment_seconds * partial.sample_rate))
    j = step % k
    c, dc, w, _ = _partial_window
    if not (c is partial and dc == cfg and w == step // k):
        window = _draw_partial(partial, cfg, [cfg.seed, step // k, k, 1], k)
        _partial_window[:] = [partial, cfg, step // k, window]
    stems, resid, known = _partial_window[3]
    part = slice(j * n, (j + 1) * n)
    return stems[..., part].copy(), resid[..., part].copy(), known.copy()


_partial_window: list = [None, None, -1, None]  # as ``_window``, for the partial items


def _draw_partial(
    partial: PartialCorpus, cfg: DataConfig, seed: list[int], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial items of ``k`` segments each, scaled as a whole: see ``make_partial``."""
    rng = np.random.default_rng(seed)
    n = k * int(round(cfg.segment_seconds * partial.sample_rate))
    b = cfg.partial_batch
    stems = np.zeros((b, len(STEMS), 2, n), np.float32)
    resid = np.zeros((b, 2, n), np.float32)
    known = np.zeros((b, len(STEMS)), np.float32)
    for i in range(b):
        s, kn, r = partial.items[int(rng.integers(len(partial)))]
        start = int(rng.integers(max(1, kn.shape[-1] - n + 1)))
        stems[i, s] = _segment(kn, start, n)
        resid[i] = _segment(r, start, n)
        known[i, s] = 1.0
    if cfg.vocal_root:
        from training.augment import partial_voices

        partial_voices(stems, resid, known, cfg, seed, partial.sample_rate)
    peak = np.abs(stems.sum(1) + resid).max(axis=(-2, -1), keepdims=True)
    scale = 1 / np.maximum(peak / 0.99, 1.0)
    return stems * scale[:, None], resid * scale, known


def make_step(corpus: Corpus, partial: PartialCorpus | None, cfg: DataConfig, step: int):
    """The batch of a step: an array (all stems known), or with partial items a tuple
    (stems (b, s, c, n), residual (b, c, n), known (b, s)) of both kinds together."""
    batch = make_batch(corpus, cfg, step)
    if partial is None or not cfg.partial_batch:
        return batch
    ps, pr, pk = make_partial(partial, cfg, step)
    if isinstance(batch, tuple):
        stems, resid, known = batch
    else:
        stems = batch
        resid = np.zeros((batch.shape[0], *pr.shape[1:]), np.float32)
        known = np.ones((batch.shape[0], len(STEMS)), np.float32)
    return (np.concatenate([stems, ps]), np.concatenate([resid, pr]), np.concatenate([known, pk]))


def _worker(corpus: Corpus, cfg: DataConfig, start: int, queue: mp.Queue) -> None:
    # A forked worker inherits the trainer's SIGTERM handler (raise KeyboardInterrupt):
    # being terminated by close() would then print a traceback. Ctrl-C is the parent's.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Torch ops (the augmentation's FFTs) in a child forked after the trainer ran its
    # thread pool hang in that pool's inherited state; one thread runs them inline.
    import torch

    torch.set_num_threads(1)
    parent = os.getppid()
    step = start
    while True:
        item = (step, make_step(corpus, _partial(cfg), cfg, step))
        while True:
            try:
                queue.put(item, timeout=5)
                break
            except Full:
                # A parent killed without cleanup would leave this process blocked forever.
                if os.getppid() != parent:
                    return
        step += 1


_PARTIAL: dict[str, PartialCorpus] = {}


def _partial(cfg: DataConfig) -> PartialCorpus | None:
    """The partial corpus of ``cfg``, loaded once per process."""
    if not cfg.partial_root or not cfg.partial_batch:
        return None
    if cfg.partial_root not in _PARTIAL:
        _PARTIAL[cfg.partial_root] = PartialCorpus(cfg.partial_root)
    return _PARTIAL[cfg.partial_root]


class Prefetcher:
    """Batches of consecutive steps, made ahead by a worker process (or inline if ``workers=0``)."""

    def __init__(self, corpus: Corpus, cfg: DataConfig, start: int, workers: int = 1) -> None:
        self.corpus, self.cfg, self.next_step = corpus, cfg, start
        self.proc = None
        if workers:
            ctx = mp.get_context("fork")  # the corpus is shared copy-on-write, not pickled
            self.queue = ctx.Queue(maxsize=4)
            self.proc = ctx.Process(
                target=_worker, args=(corpus, cfg, start, self.queue), daemon=True
            )
            self.proc.start()

    def next(self) -> tuple[int, np.ndarray]:
        """(step, batch) for the next step, in order."""
        if self.proc is None:
            out = (
                self.next_step,
                make_step(self.corpus, _partial(self.cfg), self.cfg, self.next_step),
            )
        else:
            out = self.queue.get(timeout=600)
            if out[0] != self.next_step:
                raise RuntimeError(f"prefetcher out of order: {out[0]} != {self.next_step}")
        self.next_step += 1
        return out

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.join(timeout=5)
            self.proc = None
