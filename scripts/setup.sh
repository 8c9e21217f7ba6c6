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

# System libraries the Qt GUI (PySide6) needs to start, even offscreen; OpenCV is the headless wheel.
SYSTEM_PKGS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 libxcb-cursor0 libx11-xcb1"
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
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
echo "set-up done: $VENV"
