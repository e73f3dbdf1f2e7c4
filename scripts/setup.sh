#!/usr/bin/env bash
# Set up SpeechLab on a fresh Debian/Ubuntu machine: system libraries (when
# run as root, or with sudo available) and a virtual environment in .venv.
#   scripts/setup.sh          # runtime
#   scripts/setup.sh --test   # runtime + test tools (Xvfb, PulseAudio, espeak-ng, sox)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_DEBS="libportaudio2 libasound2-plugins libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1"
TEST_DEBS="xvfb pulseaudio pulseaudio-utils espeak-ng sox"

debs="$RUNTIME_DEBS"
extra=""
if [ "${1:-}" = "--test" ]; then debs="$debs $TEST_DEBS"; extra="[test]"; fi

missing=""
for p in $debs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "SpeechLab needs these Debian packages; install them as root and run again:" >&2
    echo "  apt-get install -y$missing" >&2; exit 1
  fi
  echo "Installing Debian packages:$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".$extra"
