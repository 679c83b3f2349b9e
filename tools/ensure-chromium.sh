#!/usr/bin/env bash
# The browser tests drive Debian's chromium package by its path (never a browser that Playwright downloads).
# `make test` runs this first: nothing to do when it is there; as root with apt, install it; else say what to install.
set -euo pipefail
path="${ITM_CHROMIUM:-/usr/bin/chromium}"
if command -v "$path" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found at $path: installing Debian's chromium package with apt-get (browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium fonts-liberation
  command -v "$path" >/dev/null 2>&1 && exit 0
  echo "apt-get installed chromium but $path is still missing; set ITM_CHROMIUM to the chromium binary" >&2
  exit 1
fi
cat >&2 <<MSG
The browser tests need chromium at $path and it is missing.
Install Debian's package as root:   apt-get install -y chromium
or point ITM_CHROMIUM at a chromium binary and run make test again.
MSG
exit 1
