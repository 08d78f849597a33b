#!/usr/bin/env bash
# The aarch64 stage of .ci/run: edgepose on a Raspberry Pi's CPU, emulated by qemu-user, as a Pi 4 (Cortex-A72)
# and as a Pi 5 (Cortex-A76), the two at once (one host core each):
#   - the golden tests (tests/engine/test_goldens.py) and the int8 accuracy tests
#     (tests/dev/models_build/test_int8_accuracy.py: the detector test, lite's int8 (an expected failure since the
#     detector's bias correction, docs/pi.md) and, as a Pi 5, lite's `auto` pair; full's and heavy's would triple the
#     stage's emulated work (qemu runs about 60 million arm64 instructions a second here, docs/pi.md), and run
#     on x86 in the main suite), and tests/inference/test_cpu_choice.py (what precision = "auto" picks on the
#     emulated CPU, whose HWCAPs must agree with the cpuinfo text; seconds), by the arm64 Python inside it;
#   - the daemon smoke test (tests/daemon/test_daemon_aarch64.py): the host's pytest starts a Mosquitto on a free
#     loopback port, runs `edgepose run` under qemu with precision = "auto", checks what it published, stops it.
# Without qemu, debootstrap or the network for a cold cache it says which and skips; with CI=true it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-.venv/bin/python}"
unavailable() {
  if [ "${CI:-}" = true ]; then echo "aarch64 stage FAILED: $*" >&2; exit 1; fi
  echo "aarch64 stage skipped: $*"; exit 0
}
command -v qemu-aarch64-static >/dev/null || unavailable "qemu-aarch64-static is not installed (apt-get install qemu-user-static)"
command -v debootstrap >/dev/null || unavailable "debootstrap is not installed (apt-get install debootstrap)"
t0=$SECONDS
PYTHON="$py" tools/aarch64/build_root.sh >/dev/null || unavailable "the arm64 root could not be built (see above: network?)"
echo "arm64 root ready in $((SECONDS - t0)) s (cache: ${EDGEPOSE_AARCH64_CACHE:-/var/cache/edgepose-aarch64})"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
int8_tests=(tests/dev/models_build/test_int8_accuracy.py::test_int8_detector_finds_people_on_the_same_photos
            "tests/dev/models_build/test_int8_accuracy.py::test_int8_pck_within_one_point_of_float[lite]")
# What `auto` runs on a Pi 5 for lite (float detector, int8 landmark model), on the A76's own kernels: only as a Pi 5
# (the Pi 4's auto has no int8 stage; its cpuinfo on the other board would not describe the emulated core).
auto_test="tests/dev/models_build/test_int8_accuracy.py::test_auto_forms_on_each_pi_meet_the_criterion[lite-pi5]"
board_run() {
  local board=$1 rc=0
  {
    echo "-- $board: golden, int8 accuracy and auto-choice tests under qemu"
    local extra=()
    [ "$board" = pi5 ] && extra=("$auto_test")
    tools/aarch64/run.sh "$board" -m pytest -q -p no:cacheprovider -rxs --durations=5 \
      tests/engine/test_goldens.py "${int8_tests[@]}" "${extra[@]}" tests/inference/test_cpu_choice.py || rc=1
    echo "-- $board: daemon smoke test (edgepose run under qemu, real Mosquitto)"
    EDGEPOSE_AARCH64_BOARD="$board" "$py" -m pytest -q -p no:cacheprovider -rs \
      tests/daemon/test_daemon_aarch64.py || rc=1
  } >"$logs/$board.log" 2>&1
  return "$rc"
}
pids=()
for board in pi4 pi5; do board_run "$board" & pids+=($!); done
failed=0
for i in 0 1; do wait "${pids[$i]}" || failed=1; done
for board in pi4 pi5; do cat "$logs/$board.log"; done
echo "aarch64 stage: $((SECONDS - t0)) s"
exit "$failed"
