# The two set-up commands: `make run` (the window playing the bundled demo song) and
# `make test` (the test suite). Each installs what it needs, idempotently.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEB_PACKAGES := libportaudio2 jackd2 libsndfile1 ffmpeg xvfb xauth libxcb-icccm4 \
	libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 \
	libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 \
	libdbus-1-3 fonts-dejavu-core zam-plugins pulseaudio pulseaudio-utils libasound2-plugins

.PHONY: run separate-demo test deps venv bench clean-venv

run: venv
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(VENV)/bin/stemlive gui model/demo/demo_song.flac --output default; \
	else \
		echo "No display: the window runs offscreen for 20 s on the demo song;"; \
		echo "its screenshot goes to out/window.png, its counters to out/window.json."; \
		mkdir -p out; \
		QT_QPA_PLATFORM=offscreen $(VENV)/bin/stemlive gui model/demo/demo_song.flac \
			--output default --settings out/gui.ini --quit-after 20 \
			--screenshot out/window.png --stats out/window.json && cat out/window.json; \
	fi

separate-demo: venv
	$(VENV)/bin/stemlive separate model/demo/demo_song.flac -o out --mix vocals=0
	@echo "Stems and karaoke mix written under out/demo_song/"

test: venv
	$(PY) -m pytest -q

bench: venv
	$(VENV)/bin/stemlive bench

deps:
	@bash scripts/install_debian_packages.sh $(DEB_PACKAGES)
	@bash scripts/install_synth_packages.sh

venv: deps $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "Creating $(VENV)"; python3 -m venv $(VENV); }
	@echo "Installing Python packages into $(VENV) (torch==2.13.0 CPU build)"
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,train]'
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
