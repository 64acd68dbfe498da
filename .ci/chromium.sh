#!/usr/bin/env bash
# Installs Debian's chromium for the overview page's browser test when it is
# missing. Idempotent and fast when chromium is already there; never fails
# the CI run by itself: without chromium the browser test skips, naming it.
set -u

# The console's screenshots show Chinese: a CJK font (WenQuanYi Zen Hei)
# comes with chromium.
if (command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]) && { ! command -v fc-list >/dev/null 2>&1 || fc-list :lang=zh | grep -q .; }; then
  echo "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: warning: apt-get not available; the overview browser test will skip"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "chromium: warning: not root and no sudo; the overview browser test will skip"
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
  echo "chromium: warning: apt-get update failed; trying the install anyway"
fi
if ! $SUDO apt-get install -y -qq chromium fonts-wqy-zenhei; then
  echo "chromium: warning: apt-get install chromium failed; the overview browser test will skip"
  exit 0
fi
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
exit 0
