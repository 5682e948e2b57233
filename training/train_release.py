"""Release export: a weights folder (model/weights format, fp16) with a model card.

The card (``MODEL_CARD.md``) and ``config.json``'s info say what the weights
were trained on, for how long, how they score next to the baselines, and
the exact command, so a user can tell a release from a placeholder.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from model.errors import StemliveError
from model.weights import save_model
from training.checkpoint import load_compact

STEMS = ("vocals", "bass", "drums", "other")
NOT_WEIGHTS = ("ratio_blend", "input_level_db")  # how the separator applies the network


GENERATED = "generated songs rendered with the FluidR3 GM SoundFont (MIT)"
MBROLA = (
    "mbrola singing voices (databases free for non-commercial use; may not be sold: "
    "training use only)"
)


def data_sources(train_state: dict) -> list[str]:
    """Every data source a run trained on, with its licence, from its train_state.json."""
    train_cfg = train_state["config"]
    data = train_cfg.get("data", {})
    out = [GENERATED, MBROLA]
    if any(n.startswith("tim") for n in train_state.get("song_names") or []):
        out.append(
            "generated songs rendered with the TimGM6mb SoundFont (GPL-2) where the corpus "
            "has tim* songs (`python -m training.train_corpus data/gen 360 2 120`)"
        )
    roots = [r for r in data.get("vocal_root", "").split(",") if r]
    if any("mir1k" in r for r in roots):
        out.append(
            "MIR-1K (C.-L. Hsu and J.-S. R. Jang, IEEE TASLP 2010): real singing and karaoke "
            "backing of 13 training singers, distributed by its authors free of charge for "
            "research. THESE WEIGHTS WERE TRAINED ON RESEARCH DATA."
        )
    if any("sung_speech" in r for r in roots):
        out.append(
            "LJSpeech 1.1 (public domain): 188 read utterances re-pitched onto melodies "
            "(`stemlive data sung-speech`)"
        )
    if any("sung_fillets" in r for r in roots):
        out.append(
            "Fish Fillets NG Czech dialogue (Debian fillets-ng-data-cs, GPL-2): 697 of its 1782 "
            "acted clips (several actors) re-pitched onto melodies (`stemlive data speech`, "
            "`stemlive data sung-speech --variants 1`)"
        )
    if any("sung_asterisk" in r for r in roots):
        out.append(
            "Asterisk core sounds, English, Allison Smith (Debian asterisk-core-sounds-en-g722, "
            "CC BY-SA 3.0): 568 prompts re-pitched onto melodies (`stemlive data speech`)"
        )
    if data.get("p_real_other") and data.get("other_root"):
        out.append(
            "Frets on Fire song packs (Debian fretsonfire-songs-muldjord, CC BY-SA 3.0: "
            '"Armygeddon", "Chaos God", "Internal Degeneration", "Mutilated Mime" by '
            "Muldjord (El Senator, www.muldjord.com); fretsonfire-songs-sectoid, MIT-style, "
            'Carlos Viola Iborra): their guitar tracks as real instruments in "other"'
        )
    if data.get("partial_root"):
        out.append(f"semi-supervised segments from {data['partial_root']}")
    if train_cfg.get("valid_root"):
        out.append(
            f"checkpoint chosen on {train_cfg['valid_root']}/valid: sources never trained on "
            "(MuseScore General SoundFont, MIT; held-out MIR-1K singers)"
        )
    return out


def model_card(name: str, info: dict, cfg: dict) -> str:
    """Markdown card from a weights folder's info."""
    valid = info.get("metrics", {}).get("valid_sdr", {})
    base = info.get("baselines", {})
    rows = ["| | " + " | ".join(STEMS) + " | mean |", "|---" * 6 + "|"]
    rows.append(
        "| model | "
        + " | ".join(f"{valid.get(s, float('nan')):.2f}" for s in STEMS)
        + f" | {valid.get('mean', float('nan')):.2f} |"
    )
    for b, vals in base.items():
        rows.append(
            f"| {b} | "
            + " | ".join(f"{vals.get(s, float('nan')):.2f}" for s in STEMS)
            + f" | {vals.get('mean', float('nan')):.2f} |"
        )
    m = cfg
    notes = f"\n- Notes: {info['notes']}" if info.get("notes") else ""
    if info.get("averaged"):
        notes += (
            "\n- Averaged: the uniform average of the weights of "
            + ", ".join(f"`{a['checkpoint']}` (step {a['step']})" for a in info["averaged"])
            + f"; the steps, time and command above and the validation table below are "
            f"`{info['averaged'][0]['checkpoint']}`'s"
        )
    if info.get("export_command"):
        notes += f"\n- Exported: `{info['export_command']}`"
    extras = (
        f"\n\nThe {m['residual_stem']} stem is the residual (its mask is one minus the others'):\n"
        "the four stems always sum to the input."
        if m.get("residual_stem")
        else ""
    )
    if m.get("ratio_blend"):
        extras += (
            f"\n\nEach stem's mask is {1 - m['ratio_blend']:.2g} its complex mask and "
            f"{m['ratio_blend']:.2g} its share\nof the stems' estimated power (`ratio_blend`)."
        )
    if m.get("input_level_db"):
        extras += (
            f"\n\nThe separator brings its input to {m['input_level_db']:g} dB RMS before the "
            "network\n(a slow causal gain over the last ~10 s heard); the masks go on the input "
            "as it came\n(`input_level_db`)."
        )
    if m.get("mid_input"):
        extras += (
            "\n\nEach channel also hears where its bins sit in the stereo field (against the\n"
            "mix-down of all channels); a mono input is heard as all in the centre."
        )
    sources = "\n".join(f"  - {x}" for x in info.get("data_sources", [GENERATED, MBROLA]))
    return f"""# stemlive weights: {name}

Causal Band-Split RNN (shared trunk, one mask head per stem), streaming with
{m["n_fft"] - 1} samples of latency at {m["sample_rate"]} Hz (n_fft {m["n_fft"]}, hop {m["hop"]};
N={m["n_features"]}, {m["n_blocks"]} blocks, time hidden {m["time_hidden"]}, band hidden
{m["band_hidden"]}, head hidden {m["head_hidden"]}).{extras}

- Trained: {info.get("trained")}, {info.get("steps")} steps, {info.get("time")}
- Data: {info.get("data")}
{sources}
- Command: `{info.get("command")}`{notes}

## Validation SDR (dB, whole-track, mean over the validation songs)

{chr(10).join(rows)}

gain_only is the oracle "mixture times the best gain per stem and channel": a
model below it has learned levels, not sources. `stemlive eval --suite` scores
the model on generated songs, on sources never trained on and on real recordings.

## Limits

Trained for hours on two CPU cores, mostly on synthetic accompaniment: expect
audible bleed between stems, and weaker results on real recordings.
"""


def export(
    src: Path,
    dst: Path,
    name: str = "default",
    command: str = "",
    notes: str = "",
    ratio_blend: float | None = None,
    input_level_db: float | None = None,
    average: list[Path] | None = None,
) -> Path:
    """Export a compact checkpoint folder ``src`` as a release into ``dst``; ``ratio_blend``
    and ``input_level_db`` replace the checkpoint's (how the separator applies the network,
    not weights). ``average``: more compact checkpoints of the same network, averaged
    with ``src`` weight by weight (a model soup: branches of one run trained on different
    data keep what each learned)."""
    model, state = load_compact(src)
    states = [state]
    if average:
        states += _average_into(model, src, average)
    if ratio_blend is not None:
        model.cfg = replace(model.cfg, ratio_blend=ratio_blend)
    if input_level_db is not None:
        model.cfg = replace(model.cfg, input_level_db=input_level_db)
    info = json.loads((src / "config.json").read_text())["info"]
    info["name"] = name
    if notes:  # what the info cannot say, e.g. a corpus that changed during the run
        info["notes"] = notes
    info["source_checkpoint"] = str(src)
    sources = dict.fromkeys(x for st in states for x in data_sources(st))
    info["data_sources"] = sorted(sources, key=lambda x: x.startswith("checkpoint chosen"))
    if average:
        info["averaged"] = [
            {"checkpoint": str(p), "step": st["step"]}
            for p, st in zip([src, *average], states, strict=True)
        ]
    if command:
        info["export_command"] = command
    save_model(model.eval(), dst, info=info, half=True)
    (dst / "MODEL_CARD.md").write_text(model_card(name, info, model.cfg.to_dict()))
    return dst


def _average_into(model: torch.nn.Module, src: Path, others: list[Path]) -> list[dict]:
    """Replace ``model``'s weights by their mean with ``others``' (same network config, or a
    clear error); the others' train states."""

    def network(m) -> dict:
        return {k: v for k, v in m.cfg.to_dict().items() if k not in NOT_WEIGHTS}

    want = network(model)
    total = {k: v.double().clone() for k, v in model.state_dict().items()}
    states = []
    for path in others:
        other, state = load_compact(path)
        got = network(other)
        if got != want:
            diff = sorted(k for k in want if want[k] != got.get(k))
            raise StemliveError(f"{path} is another network than {src} (differs in {diff})")
        for k, v in other.state_dict().items():
            total[k] += v.double()
        states.append(state)
    n = len(others) + 1
    model.load_state_dict({k: (v / n).float() for k, v in total.items()})
    return states


def export_release(trainer, dst: Path) -> Path:
    """Export a finished Trainer's best compact checkpoint."""
    return export(trainer.run_dir / "best", dst)


if __name__ == "__main__":
    import argparse
    import shlex

    p = argparse.ArgumentParser(prog="python -m training.train_release", description=__doc__)
    p.add_argument("src", type=Path, help="compact checkpoint folder")
    p.add_argument("dst", type=Path, help="release folder to write")
    p.add_argument("name", nargs="?", default="default")
    p.add_argument("notes", nargs="?", default="")
    p.add_argument("--ratio-blend", type=float, help="the separator's ratio_blend (0..1)")
    p.add_argument(
        "--input-level-db", type=float, help="the separator's input level, dB RMS (0: off)"
    )
    p.add_argument(
        "--average",
        type=Path,
        nargs="+",
        metavar="CKPT",
        help="more compact checkpoints of the same network to average with SRC",
    )
    a = p.parse_args()
    cmd = "python -m training.train_release " + shlex.join(sys.argv[1:])
    print(export(a.src, a.dst, a.name, cmd, a.notes, a.ratio_blend, a.input_level_db, a.average))
