"""Evaluation splits made only of sources that training never hears.

``unseen``: 4-stem songs whose bass, drums and other are rendered with the MuseScore
General SoundFont (training uses FluidR3 and TimGM6mb) and whose vocals are real MIR-1K
singers held out of training (``training.real_vocals``: 2 singers for validation, 4 for
test), given a record's vocal chain. ``mir1k``: the held-out singers over their own real
karaoke backing (a 2-stem truth: vocals, and the backing as "other"; bass and drums are
absent, so only the vocals and the accompaniment are scored).

Layout as the generated corpus: ``ROOT/{valid,test}/<song>/{mixture,vocals,bass,drums,
other}.wav``, 16-bit stems and a float mixture that is exactly their sum.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from training.real_vocals import SAMPLE_RATE, rms, singer_of, vocal_chain

STEMS = ("vocals", "bass", "drums", "other")
UNSEEN_SOUNDFONTS = (
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
)
# Songs per split and their length, and the seeds of their arrangements (apart from
# every training seed).
SPLITS = {"valid": (6, 12.0, 300_000), "test": (8, 30.0, 400_000)}


def unseen_soundfont() -> Path:
    for path in UNSEEN_SOUNDFONTS:
        if path.is_file():
            return path
    raise StemliveError(
        "the MuseScore General SoundFont is missing (the unseen-source split's instruments); "
        "apt install musescore-general-soundfont-small"
    )


def _clips(mir1k: Path, split: str) -> dict[str, list[Path]]:
    """Clip folders of ``split`` per singer, in name order."""
    folder = mir1k / split
    out: dict[str, list[Path]] = {}
    for p in sorted(folder.glob("*/vocals.wav")):
        out.setdefault(singer_of(p.parent.name), []).append(p.parent)
    if not out:
        raise StemliveError(f"{folder} holds no MIR-1K clip; run `stemlive data mir1k` first")
    return out


def _read_mono(path: Path) -> np.ndarray:
    import soundfile as sf

    return sf.read(str(path), dtype="float32", always_2d=True)[0].mean(1)


def _voice_track(clips: list[Path], n: int, rng: np.random.Generator) -> np.ndarray:
    """Clips of one singer one after another with short gaps: (n,) float32."""
    voice = np.zeros(n, np.float32)
    pos = int(rng.uniform(0.0, 1.5) * SAMPLE_RATE)
    k = int(rng.integers(len(clips)))
    while pos < n:
        v = _read_mono(clips[k % len(clips)] / "vocals.wav")  # as long as its backing
        m = min(len(v), n - pos)
        voice[pos : pos + m] = v[:m]
        pos += m + int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)
        k += 1
    return voice


def _write(folder: Path, stems: dict[str, np.ndarray], info: dict) -> None:
    import soundfile as sf

    tmp = folder.with_name(folder.name + ".part")
    tmp.mkdir(parents=True, exist_ok=True)
    for s in STEMS:
        sf.write(tmp / f"{s}.wav", np.clip(stems[s], -1, 1).T, SAMPLE_RATE, "PCM_16")
    mix = sum(sf.read(tmp / f"{s}.wav", dtype="float32")[0] for s in STEMS)
    sf.write(tmp / "mixture.wav", np.clip(mix, -1, 1), SAMPLE_RATE, "FLOAT")
    (tmp / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    tmp.rename(folder)


def build_unseen(
    root: Path,
    mir1k: Path,
    log: Callable[[str], None] = print,
    splits: tuple[str, ...] = ("valid", "test"),
) -> None:
    """Write the missing songs of the ``unseen`` splits under ``root`` (resumable)."""
    from training.synth.song import generate_song

    soundfont = unseen_soundfont()
    for split, (count, seconds, base) in SPLITS.items():
        if split not in splits:
            continue
        singers = _clips(mir1k, split)
        names = sorted(singers)
        for i in range(count):
            folder = root / split / f"song{base + i:06d}"
            if (folder / "mixture.wav").is_file():
                continue
            song = generate_song(base + i, seconds, SAMPLE_RATE, soundfont)
            rng = np.random.default_rng([base + i, 7])
            singer = names[i % len(names)]
            n = song.stems["vocals"].shape[-1]
            voice = _voice_track(singers[singer], n, rng)
            sung = vocal_chain(voice, SAMPLE_RATE, rng)
            rest = rms(sum(song.stems[s] for s in STEMS[1:]))
            level = max(rms(song.stems["vocals"]), 0.5 * rest) * 10 ** (rng.uniform(-3, 3) / 20)
            stems = dict(song.stems)
            stems["vocals"] = sung * (level / (rms(sung) + 1e-9))
            peak = np.max(np.abs(sum(stems.values())))
            if peak > 0.99:
                stems = {s: x * (0.99 / peak) for s, x in stems.items()}
            info = {"seed": base + i, "soundfont": soundfont.name, "singer": singer,
                    "arrangement": song.info}  # fmt: skip
            _write(folder, stems, info)
            log(f"unseen {split}/{folder.name}: {soundfont.name}, singer {singer}")


def build_mir1k_real(root: Path, mir1k: Path, log: Callable[[str], None] = print) -> None:
    """Held-out singers over their own backing: 2 songs of ~30 s per test singer, 1 per valid
    singer, each the clips of one MIR-1K song in order."""
    for split, per_singer in (("valid", 1), ("test", 2)):
        singers = _clips(mir1k, split)
        for singer, clips in sorted(singers.items()):
            songs: dict[str, list[Path]] = {}
            for c in clips:
                songs.setdefault(c.name.split("_")[1], []).append(c)
            for song_id in sorted(songs, key=lambda s: -len(songs[s]))[:per_singer]:
                folder = root / split / f"{singer}_{song_id}"
                if (folder / "mixture.wav").is_file():
                    continue
                parts = [
                    (_read_mono(c / "vocals.wav"), _read_mono(c / "backing.wav"))
                    for c in songs[song_id]
                ]
                voice = np.concatenate([v[: min(len(v), len(b))] for v, b in parts])
                back = np.concatenate([b[: min(len(v), len(b))] for v, b in parts])
                voice, back = voice[: 30 * SAMPLE_RATE], back[: 30 * SAMPLE_RATE]
                zero = np.zeros((2, len(voice)), np.float32)
                stems = {"vocals": np.stack([voice, voice]), "bass": zero, "drums": zero,
                         "other": np.stack([back, back])}  # fmt: skip
                _write(folder, stems, {"singer": singer, "song": song_id, "source": "MIR-1K"})
                log(f"mir1k {split}/{folder.name}: {len(voice) / SAMPLE_RATE:.1f} s")
