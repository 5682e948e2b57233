"""Mixer logic and the mixer panel: mute/solo, presets set every strip, fader dB mapping."""

import math

import pytest

from gui.mixer_panel import MixerPanel, strip_differences
from gui.presets import MixState, StripState, builtin_presets
from gui.stem_strip import db_to_slider, slider_to_db

STEMS = ("vocals", "bass", "drums", "other")


def test_mute_wins_over_solo_and_solo_silences_the_rest():
    mix = MixState.neutral(STEMS)
    assert all(mix.audible(s) for s in STEMS)
    mix = mix.with_strip("vocals", solo=True)
    assert [mix.audible(s) for s in STEMS] == [True, False, False, False]
    mix = mix.with_strip("bass", solo=True)
    assert [mix.audible(s) for s in STEMS] == [True, True, False, False]
    mix = mix.with_strip("vocals", mute=True)
    assert [mix.audible(s) for s in STEMS] == [False, True, False, False]
    gains = mix.with_strip("bass", gain_db=-6.0).effective_gains_db()
    assert gains == {"vocals": -math.inf, "bass": -6.0, "drums": -math.inf, "other": -math.inf}


def test_fader_bottom_is_minus_infinity_and_top_is_plus_six():
    assert slider_to_db(db_to_slider(-math.inf)) == -math.inf
    assert slider_to_db(db_to_slider(6.0)) == 6.0
    assert slider_to_db(db_to_slider(99.0)) == 6.0
    assert slider_to_db(db_to_slider(-3.2)) == pytest.approx(-3.2)


def test_mix_json_round_trip_keeps_minus_infinity():
    mix = MixState.neutral(STEMS).with_strip("drums", gain_db=-math.inf, mute=True)
    assert MixState.from_json(mix.to_json(), STEMS) == mix
    with pytest.raises(ValueError, match="preset"):
        MixState.from_json("[1, 2]", STEMS)


def test_strip_differences_name_only_what_changed():
    a = MixState.neutral(STEMS)
    b = a.with_strip("bass", gain_db=-3.0).with_strip("vocals", mute=True)
    assert strip_differences(a, b) == {"bass": {"gain_db": -3.0}, "vocals": {"mute": True}}


@pytest.mark.parametrize("name", list(builtin_presets(STEMS)))
def test_a_preset_sets_every_strip(qtbot, name):
    panel = MixerPanel(STEMS)
    qtbot.addWidget(panel)
    panel.set_presets(builtin_presets(STEMS))
    # Start from a mix unlike any preset: soloed, muted, odd gains everywhere.
    messy = MixState(
        {s: StripState(-17.0, mute=i % 2 == 0, solo=True) for i, s in enumerate(STEMS)}
    )
    panel.set_mix(messy)
    with qtbot.waitSignal(panel.mix_changed):
        panel.apply_preset(name)
    preset = builtin_presets(STEMS)[name]
    for s in STEMS:
        assert panel.strips[s].state() == preset.strips[s], s
        assert panel.mix.strips[s] == preset.strips[s]
    assert panel.preset_box.currentText() == name


def test_karaoke_and_a_cappella_are_what_they_say(qtbot):
    presets = builtin_presets(STEMS)
    karaoke = presets["Karaoke"]
    assert [karaoke.audible(s) for s in STEMS] == [False, True, True, True]
    acappella = presets["A cappella"]
    assert [acappella.audible(s) for s in STEMS] == [True, False, False, False]


def test_strip_buttons_and_fader_update_the_panel_mix(qtbot):
    panel = MixerPanel(STEMS)
    qtbot.addWidget(panel)
    changes = []
    panel.mix_changed.connect(lambda old, new: changes.append(new))
    panel.strips["drums"].fader.setValue(db_to_slider(-12.0))
    assert panel.mix.strips["drums"].gain_db == pytest.approx(-12.0)
    panel.strips["vocals"].solo.click()
    assert panel.mix.strips["vocals"].solo
    assert not panel.strips["bass"].meter.isEnabled()  # dimmed: silenced by the solo
    panel.toggle_mute(1)
    assert panel.mix.strips["bass"].mute and panel.strips["bass"].mute.isChecked()
    panel.original.click()
    assert panel.mix.bypass
    assert len(changes) == 4
