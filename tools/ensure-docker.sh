#!/usr/bin/env bash
# The container tests and `make images` need Debian's docker.io (dockerd + CLI), debootstrap (the base
# image) and docker-compose (the compose smoke test). `make test` and `make images` run this first:
# nothing to do when they are there; as root with apt, install them; else say in one line what is missing
# and carry on (the container tests then skip, saying why; the rest of the suite runs).
set -uo pipefail
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${ITM_TEST_CONTAINERS:-}" = 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "container tools missing (${missing[*]}): installing Debian's packages with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null \
     && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "containers: apt-get could not install ${missing[*]}; the container tests will say why they skip" >&2
  exit 0
fi
echo "containers: ${missing[*]} missing and not root to install them (apt-get install ${missing[*]}); container tests skip" >&2
exit 0
