#!/usr/bin/env bash
# Make sure the binaries the integration tests start are installed.
# The tests start their own throwaway servers on free loopback ports (nothing
# is started here, and no system service is enabled): redis-server for the
# Redis sink and source tests. Without root or apt-get this only reports what
# is missing; the tests that need it then skip with that reason.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  echo "services.sh: all test services present"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "services.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package may start a system-wide instance; the tests never use it.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
  echo "services.sh: installing ${missing[*]} with sudo"
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "services.sh: missing ${missing[*]} and cannot install (not root, no apt-get); tests needing it will skip" >&2
fi
