#!/usr/bin/env bash
# One-time set-up on Debian/Ubuntu (or a Jetson): system packages, a virtual environment, Python packages.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "FaceGate needs Python >= 3.10 ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

# venv/ensurepip come as separate Debian packages for the system Python.
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  pkgs="python3-venv python3-pip"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs
  else
    echo "missing Python venv support: run  sudo apt-get install -y $pkgs" >&2
    exit 1
  fi
fi

# System libraries the Qt GUI (PySide6) needs: offscreen (tests) and on an X11 desktop (Qt's xcb plugin).
# OpenCV is the headless wheel and needs none.
SYSTEM_PKGS="libegl1 libgl1 libfontconfig1 libfreetype6 libglib2.0-0 libdbus-1-3 libxkbcommon0 fonts-dejavu-core
  libxkbcommon-x11-0 libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1
  libxcb-xfixes0 libxcb-xkb1"
if command -v dpkg-query >/dev/null; then
  missing=""
  for p in $SYSTEM_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    else
      echo "the GUI needs system libraries: run  sudo apt-get install -y$missing" >&2
    fi
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
# FaceGate itself (editable: the checkout is what runs) with every extra; pyproject.toml lists them
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[all,dev]"
# no deps: face_recognition's own would compile dlib (dlib-bin is in the bench extra); nvidia-pytriton pins
# numpy<2, which OpenCV 5 refuses (its other deps are in the dev extra)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps face_recognition==1.3.0 nvidia-pytriton==0.7.0
echo "set-up done: $VENV"
