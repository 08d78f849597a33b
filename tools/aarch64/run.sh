#!/usr/bin/env bash
# Runs the arm64 Python of tools/aarch64/build_root.sh's root under qemu-user as a Raspberry Pi's CPU:
#
#   tools/aarch64/run.sh pi4|pi5 [python args...]      # pi4 = Cortex-A72, pi5 = Cortex-A76
#
# e.g. `tools/aarch64/run.sh pi5 -m pytest -q tests/engine/test_goldens.py`. The guest imports edgepose (and, for
# the tests that use it, edgepose_dev from dev/) from this checkout and the wheels from the cache. LiteRT's CPU
# detection reads /proc/cpuinfo, which qemu-user does not emulate for arm64: each CPU gets its own copy of the
# root (hard links) whose proc/cpuinfo is the Pi's
# (tools/aarch64/cpuinfo/), with exactly the features of the emulated core (asimddp only on the A76: LiteRT
# picks dot-product kernels from it, and an A72 would raise SIGILL on them).
# $QEMU (default qemu-aarch64-static) and $QEMU_EXTRA_ARGS (e.g. a -plugin) select the emulator.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
case "${1:-}" in
  pi4) cpu=cortex-a72 ;;
  pi5) cpu=cortex-a76 ;;
  *) echo "usage: $0 pi4|pi5 [python args...]" >&2; exit 64 ;;
esac
board="$1"; shift
qemu="${QEMU:-qemu-aarch64-static}"
command -v "$qemu" >/dev/null || { echo "unavailable: $qemu is not installed (apt-get install qemu-user-static qemu-user)" >&2; exit 69; }
read -r base site < <("$here/build_root.sh")
root="$base-$board"
if [ ! -e "$root/.complete" ] || ! cmp -s "$here/cpuinfo/$board.txt" "$root/proc/cpuinfo"; then
  rm -rf "$root"
  cp -al "$base" "$root"
  mkdir -p "$root/proc"
  cp "$here/cpuinfo/$board.txt" "$root/proc/cpuinfo"
fi
# shellcheck disable=SC2086  # QEMU_EXTRA_ARGS is a list of words
exec env -u PYTHONHOME PYTHONPATH="$site:$repo:$repo/dev" PYTHONNOUSERSITE=1 \
  "$qemu" -cpu "$cpu" -L "$root" ${QEMU_EXTRA_ARGS:-} "$root/usr/bin/python3.11" "$@"
