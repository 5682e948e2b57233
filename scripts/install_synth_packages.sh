#!/usr/bin/env bash
# Install the Debian packages the synthetic training-data generator needs
# (`stemlive data synth`, `stemlive data real`), but only those missing.
# mbrola and its voices live in Debian's contrib/non-free components: they are
# added to the apt sources of the same mirror only if a package is missing and
# apt cannot find it.
set -euo pipefail
PACKAGES=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small espeak-ng ffmpeg mbrola
    mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-de1 mbrola-fr4 mbrola-de5
    fretsonfire-songs-muldjord fretsonfire-songs-sectoid)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

enable_contrib_non_free() {
    # deb822 sources (Debian 12 default) first, then the classic one-line format.
    local f changed=0
    for f in /etc/apt/sources.list.d/debian.sources; do
        [ -f "$f" ] || continue
        if grep -qE '^Components:' "$f" && ! grep -qE '^Components:.*\bcontrib\b' "$f"; then
            echo "Adding contrib non-free to $f (mbrola voices live there)"
            $SUDO sed -i -E 's/^(Components:.*\bmain\b.*)$/\1 contrib non-free/' "$f"
            changed=1
        fi
    done
    f=/etc/apt/sources.list
    if [ -f "$f" ] && grep -qE '^deb .*debian.* main' "$f" && ! grep -qE '^deb .* contrib' "$f"; then
        echo "Adding contrib non-free to $f (mbrola voices live there)"
        $SUDO sed -i -E '/^deb .*debian/ s/ main( |$)/ main contrib non-free\1/' "$f"
        changed=1
    fi
    return 0
}

if ! apt-cache show mbrola >/dev/null 2>&1 || [ -z "$(apt-cache policy mbrola | grep Candidate | grep -v none)" ]; then
    enable_contrib_non_free
fi
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
