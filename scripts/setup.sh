#!/usr/bin/env bash
# Set up SpeechLab on a fresh Debian/Ubuntu machine: system libraries (when
# run as root, or with sudo available) and a virtual environment in .venv.
#   scripts/setup.sh          # runtime
#   scripts/setup.sh --test   # runtime + test tools (Xvfb, PulseAudio, espeak-ng, sox) + the cluster extra (Dask),
#                             # so that the cluster tests run (in CI they fail, never skip, without it)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_DEBS="libportaudio2 libasound2-plugins libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1"
TEST_DEBS="xvfb pulseaudio pulseaudio-utils espeak-ng sox"

debs="$RUNTIME_DEBS"
extra=""
if [ "${1:-}" = "--test" ]; then debs="$debs $TEST_DEBS"; extra="[test,cluster]"; fi

if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="-"; fi

apt_install() {  # apt_install PACKAGE...: install, or say how when we cannot
  if [ "$SUDO" = "-" ]; then
    echo "SpeechLab needs these Debian packages; install them as root and run again:" >&2
    echo "  apt-get install -y $*" >&2
    exit 1
  fi
  echo "Installing Debian packages: $*" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

missing=""
for p in $debs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# shellcheck disable=SC2086
if [ -n "$missing" ]; then apt_install $missing; fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "SpeechLab needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv  # Debian's own Python keeps venv/ensurepip in python3-venv
    apt_install python3-venv
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
# "strict": the package is a tree of links under build/ put on sys.path by a plain .pth line; the default
# ("lenient") installs an import hook whose module every Python start in .venv imports (~10 ms: pathlib,
# dataclasses, inspect), in the app, each command and every training or extraction process. Re-run this
# script after adding a module (main.py and pytest find new modules without it: they run from the checkout).
.venv/bin/python -m pip install -q -e ".$extra" --config-settings editable_mode=strict
# The pretrained encoders' weights (musicnn, GE2E): the pinned wheels from the package registry, their
# SHA-256 checked, converted once into resources/pretrained/ (not in git); nothing is fetched at run time.
.venv/bin/python scripts/convert_pretrained.py
