#!/usr/bin/env bash
# Installs Debian's Chromium for the e2e tests (test/e2e/), when it is missing. Idempotent and
# quiet: a second run only checks. Needs root (or passwordless sudo) for apt-get.
set -euo pipefail

# A Korean font too: the pages are tested (and their README screenshots taken) in Korean.
korean_font() { fc-list 2>/dev/null | grep -qiE 'nanum|noto sans cjk|noto sans kr'; }

if [ -x /usr/bin/chromium ] && korean_font; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-browser: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium)." >&2
    exit 1
  fi
fi

echo "install-browser: installing Debian's chromium (for the e2e tests)…"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-nanum >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  echo "install-browser: apt-get finished but /usr/bin/chromium is still missing." >&2
  exit 1
fi
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed."
