#!/usr/bin/env bash
# Builds (once, cached) an arm64 Debian root with Python 3.11 and edgepose's aarch64 wheels, for running the
# project under qemu-user as a Raspberry Pi 4 (Cortex-A72) or Pi 5 (Cortex-A76). No binfmt_misc is needed:
# debootstrap --foreign only downloads and unpacks, the remaining debs are unpacked with dpkg-deb -x, and the
# wheels are installed with the host's pip into a --target directory (pure unpacking, nothing runs as arm64).
#
#   tools/aarch64/build_root.sh          # prints "ROOT SITE" (the root and the wheels' directory) when ready
#
# Cache: $EDGEPOSE_AARCH64_CACHE (default /var/cache/edgepose-aarch64), outside the repository, reused while
# this script's inputs (suite, package list, wheel pins) are unchanged. Needs: debootstrap, dpkg-deb, python3
# with pip, network (Debian archive and PyPI) on a cold cache. Exit 69 when a tool or the network is missing.
set -euo pipefail
cache="${EDGEPOSE_AARCH64_CACHE:-/var/cache/edgepose-aarch64}"
suite=bookworm  # Python 3.11, as Raspberry Pi OS Bookworm
# The same versions as CI's x86 venv, so a difference under qemu is the CPU's, not a library's.
wheels=(numpy==2.4.6 opencv-python-headless==4.14.0.94 ai-edge-litert==2.3.0 paho-mqtt==2.2.0 pytest==9.2.0
        scikit-image==0.26.0)
key="$(printf '%s\n' "$suite" "${wheels[@]}" | sha256sum | cut -c1-12)"
root="$cache/root-$key"
site="$cache/site-$key"
log() { printf '[aarch64] %s\n' "$*" >&2; }

if [ -e "$root/.complete" ] && [ -e "$site/.complete" ]; then
  echo "$root $site"; exit 0
fi
for tool in debootstrap dpkg-deb "${PYTHON:-python3}"; do
  command -v "$tool" >/dev/null || { log "unavailable: $tool is not installed (apt-get install debootstrap)"; exit 69; }
done
mkdir -p "$cache"

if [ ! -e "$root/.complete" ]; then
  log "debootstrap --foreign $suite arm64 into $root"
  rm -rf "$root.tmp"
  if ! debootstrap --foreign --arch=arm64 --variant=minbase --include=python3,python3-venv \
      "$suite" "$root.tmp" >"$cache/debootstrap.log" 2>&1; then
    log "unavailable: debootstrap failed (network?); see $cache/debootstrap.log:"; tail -5 "$cache/debootstrap.log" >&2
    exit 69
  fi
  # The second stage would run maintainer scripts as arm64 (needs binfmt); unpacking is all Python needs.
  for deb in "$root.tmp"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
  rm -f "$root.tmp"/var/cache/apt/archives/*.deb
  mv "$root.tmp" "$root"
  touch "$root/.complete"
fi

if [ ! -e "$site/.complete" ]; then
  log "aarch64 wheels into $site"
  rm -rf "$site.tmp"
  if ! "${PYTHON:-python3}" -m pip install -q --disable-pip-version-check --no-compile --target "$site.tmp" \
      --only-binary=:all: --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 \
      --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64 \
      --python-version 3.11 --implementation cp "${wheels[@]}" >"$cache/pip.log" 2>&1; then
    log "unavailable: pip could not fetch the aarch64 wheels (network?); see $cache/pip.log:"; tail -5 "$cache/pip.log" >&2
    exit 69
  fi
  mv "$site.tmp" "$site"
  touch "$site/.complete"
fi
echo "$root $site"
