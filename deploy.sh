#!/usr/bin/env bash
# deploy.sh: build edgepose and install it on a device over ssh, or into a mounted root filesystem.
#
#   ./deploy.sh [user@]host [--port N] [--identity FILE] [--edgetpu] [--with-broker] [--config FILE] [--dry-run]
#   ./deploy.sh --root DIR [--edgetpu] [--with-broker] [--config FILE] [--dry-run]
#
# Layout on the device (docs/deploy.md): /opt/edgepose/releases/<version>-<hash>/{venv,models,systemd,...},
# /opt/edgepose/current -> releases/<...>, /etc/edgepose/edgepose.toml (kept), /etc/edgepose/mqtt_password
# (systemd credential), /etc/systemd/system/edgepose.service.
#
# The same file runs on three sides: on the workstation (the default), on the target as the install stage
# (--on-target, fed over ssh on stdin), and on the device at first boot after --root (--firstboot).
set -euo pipefail

readonly SCRIPT_VERSION=1
readonly DEFAULT_KEEP=3
readonly DEFAULT_MIN_FREE_MB=300
# feranick/libedgetpu: community builds that work with current TFLite/LiteRT (Google's apt repo is frozen since
# 2022 and its libedgetpu segfaults with tflite-runtime >= 2.12). Asset pattern, see docs/deploy.md.
readonly LIBEDGETPU_TAG="${LIBEDGETPU_TAG:-16.0TF2.19.1-1}"
readonly LIBEDGETPU_VARIANT="${LIBEDGETPU_VARIANT:-std}"
readonly LIBEDGETPU_URL_BASE="https://github.com/feranick/libedgetpu/releases/download"
# sha256 of each pinned package, per <codename>_<arch> of LIBEDGETPU_TAG 16.0TF2.19.1-1 (docs/deploy.md says
# where each comes from). A package without a pinned hash is not installed (unless LIBEDGETPU_SHA256 gives
# one); a download whose hash differs aborts before anything is installed.
readonly LIBEDGETPU_PINNED_TAG="16.0TF2.19.1-1"
libedgetpu_pinned_sha256() {
    case "$1" in
        bookworm_amd64) echo 23be53c72eff4d44afc2f727700da185791d3ca0867bd0b5e082ec3a0de21925 ;;
        bookworm_arm64) echo 46ab47310d6de120bda4678febe5eb6143f5c7d7dd17c0d017ae5f6cd67dfec5 ;;
        trixie_arm64) echo df9e9b16c802f4e4ad6fd8d9d0866d25eff8ddef989813f398794546d267bd11 ;;
        *) echo "" ;;  # bookworm_armhf, trixie_amd64, trixie_armhf: not pinned yet
    esac
}

# ---------------------------------------------------------------------------------------------------------------
# Options (shared by all three sides; the workstation forwards the relevant ones).
HOST=""
PORT=""
IDENTITY=""
EDGETPU=0
WITH_BROKER=0
CONFIG_FILE=""
DRY_RUN=0
PREFIX=""
ROOT=""
TARGET_PY="python3"
KEEP="$DEFAULT_KEEP"
MIN_FREE_MB="$DEFAULT_MIN_FREE_MB"
ONLINE_TIMEOUT_S=30
SOURCE_DIR=""
WHEEL=""
OS_PACKAGES=1
SSH_OPTS=()
SSH=()
# Target-side only.
ON_TARGET=0
FIRSTBOOT=0
PHASE=""
RELEASE=""
STAGING=""
STATE_KEY=""

usage() {
    cat <<'EOF'
usage: deploy.sh [user@]host [options]
       deploy.sh --root DIR [options]

Build the edgepose wheel here, install it with the int8 models and the systemd unit on a device.

  --port N            ssh port (default 22)
  --identity FILE     ssh private key
  --ssh-option OPT    extra ssh -o option (repeatable), e.g. --ssh-option StrictHostKeyChecking=accept-new
  --edgetpu           install libedgetpu (feranick's builds) and give the service the Edge TPU groups
  --with-broker       install and enable Mosquitto on the device
  --config FILE       install FILE as /etc/edgepose/edgepose.toml (the previous one is kept as .bak-<time>);
                      without it an existing config is kept
  --dry-run           print every step, change nothing (here or on the device)
  --prefix DIR        install under DIR on the target (DIR/opt/edgepose, DIR/etc/...); paths in the installed
                      unit include DIR; systemctl steps are skipped
  --root DIR          install into a mounted root filesystem (SD card) instead of over ssh; the venv is built
                      on the device at first boot by edgepose-firstboot.service
  --python EXE        Python interpreter on the target (default python3; must be 3.11+)
  --keep N            releases to keep on the device (default 3)
  --min-free-mb N     free space required on the target (default 300)
  --online-timeout S  how long to wait for the daemon's retained 'online' after a restart (default 30)
  --source DIR        project directory to build (default: the directory of this script)
  --wheel FILE        deploy this edgepose wheel instead of building one (models, unit, docs still from --source)
  --no-os-packages    do not install OS packages (python3-venv, python3-picamera2, mosquitto, libedgetpu)
  -h, --help          this help
EOF
}

# ---------------------------------------------------------------------------------------------------------------
# Output helpers. Steps go to stdout; errors to stderr, one line that names the problem.
say() { printf '%s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
notice() { printf '    notice: %s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'deploy.sh: error: %s\n' "$1" >&2
    exit "${2:-1}"
}

# Quote a command for display or for a remote shell.
quote() {
    local out="" a
    for a in "$@"; do out+="$(printf '%q' "$a") "; done
    printf '%s' "${out% }"
}

# Run a command that changes something, or only print it with --dry-run.
act() {
    if ((DRY_RUN)); then
        printf '    [dry-run] %s\n' "$(quote "$@")"
    else
        "$@"
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------------------------
parse_args() {
    while (($#)); do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift ;;
            --identity) IDENTITY="${2:?--identity needs a file}"; shift ;;
            --ssh-option) SSH_OPTS+=(-o "${2:?--ssh-option needs a value}"); shift ;;
            --edgetpu) EDGETPU=1 ;;
            --with-broker) WITH_BROKER=1 ;;
            --config) CONFIG_FILE="${2:?--config needs a file}"; shift ;;
            --dry-run) DRY_RUN=1 ;;
            --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
            --root) ROOT="${2:?--root needs a directory}"; shift ;;
            --python) TARGET_PY="${2:?--python needs an interpreter}"; shift ;;
            --keep) KEEP="${2:?--keep needs a number}"; shift ;;
            --min-free-mb) MIN_FREE_MB="${2:?--min-free-mb needs a number}"; shift ;;
            --online-timeout) ONLINE_TIMEOUT_S="${2:?--online-timeout needs seconds}"; shift ;;
            --source) SOURCE_DIR="${2:?--source needs a directory}"; shift ;;
            --wheel) WHEEL="${2:?--wheel needs a file}"; shift ;;
            --no-os-packages) OS_PACKAGES=0 ;;
            --on-target) ON_TARGET=1 ;;
            --firstboot) FIRSTBOOT=1 ;;
            --phase) PHASE="${2:?}"; shift ;;
            --release) RELEASE="${2:?}"; shift ;;
            --staging) STAGING="${2:?}"; shift ;;
            --state-key) STATE_KEY="${2:?}"; shift ;;
            -h | --help) usage; exit 0 ;;
            -*) usage >&2; die "unknown option: $1" 64 ;;
            *)
                [[ -z "$HOST" ]] || die "more than one host given: '$HOST' and '$1'" 64
                HOST="$1"
                ;;
        esac
        shift
    done
    [[ "$KEEP" =~ ^[1-9][0-9]*$ ]] || die "--keep must be a positive integer, got '$KEEP'" 64
    [[ "$MIN_FREE_MB" =~ ^[0-9]+$ ]] || die "--min-free-mb must be a number, got '$MIN_FREE_MB'" 64
    [[ "$ONLINE_TIMEOUT_S" =~ ^[0-9]+$ ]] || die "--online-timeout must be a number of seconds" 64
    [[ -z "$PORT" || "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'" 64
    if [[ -n "$PREFIX" && "$PREFIX" != /* ]]; then die "--prefix must be an absolute path, got '$PREFIX'" 64; fi
    PREFIX="${PREFIX%/}"
}

# ===============================================================================================================
# Target side. Paths: ROOT is where the target's "/" is mounted (empty on a live target); PREFIX is part of
# every path, including the paths written into the unit.
set_target_paths() {
    F_OPT="$PREFIX/opt/edgepose"        # as the device sees it
    F_ETC="$PREFIX/etc/edgepose"
    OPT="$ROOT$F_OPT"                   # as this process sees it
    ETC="$ROOT$F_ETC"
    UNITDIR="$ROOT$PREFIX/etc/systemd/system"
    RELEASES="$OPT/releases"
    STATE_FILE="$OPT/deployed"
}

systemd_running() { [[ -z "$ROOT" && -z "$PREFIX" && -d /run/systemd/system ]] && have systemctl; }

# The unit as installed: paths carry the prefix (a no-op without --prefix).
render_unit() {
    sed -e "s#/opt/edgepose/#$F_OPT/#g" -e "s#/etc/edgepose/#$F_ETC/#g" "$1"
}

current_release() {
    local link
    link="$(readlink "$OPT/current" 2>/dev/null || true)"
    printf '%s' "${link##*/}"
}

free_mb() {
    local dir="$1"
    while [[ ! -d "$dir" ]]; do dir="$(dirname "$dir")"; done
    df -Pk "$dir" | awk 'NR == 2 { print int($4 / 1024) }'
}

# Python version of the target interpreter ("3.11"), or of the root filesystem's python3.
target_python_version() {
    if [[ -n "$ROOT" ]]; then
        # Only python3.N itself (not python3.N-config, python3.Nm): a non-matching name, or no match at all,
        # must not fail the pipeline (set -o pipefail would end the script here without a message).
        local exe
        for exe in "$ROOT"/usr/bin/python3.[0-9]*; do
            if [[ "$exe" =~ /python(3\.[0-9]+)$ ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; fi
        done | sort -t. -k2,2n | tail -n1
    else
        "$TARGET_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
    fi
}

# CPU architecture of the root filesystem: its python's ELF machine field, else its multiarch library directory.
root_arch() {
    local exe machine=""
    exe="$(find "$ROOT/usr/bin" -maxdepth 1 -name 'python3.[0-9]*' -type f -size +1k -print -quit 2>/dev/null || true)"
    [[ -n "$exe" ]] && machine="$(od -An -tx1 -j18 -N2 "$exe" 2>/dev/null | tr -d ' \n')"
    case "$machine" in
        b700) echo aarch64; return ;;
        3e00) echo x86_64; return ;;
        2800) echo armv7l; return ;;
    esac
    if [[ -d "$ROOT/usr/lib/aarch64-linux-gnu" ]]; then echo aarch64
    elif [[ -d "$ROOT/usr/lib/x86_64-linux-gnu" ]]; then echo x86_64
    elif [[ -d "$ROOT/usr/lib/arm-linux-gnueabihf" ]]; then echo armv7l
    else echo aarch64  # a 64-bit Raspberry Pi OS card, the case --root is for
    fi
}

# pip --platform tags of the binary wheels a device of this architecture runs (glibc >= 2.28: Bookworm has 2.36).
wheel_platforms() {
    case "$1" in
        aarch64) echo "manylinux_2_28_aarch64 manylinux_2_27_aarch64 manylinux2014_aarch64" ;;
        x86_64) echo "manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux2014_x86_64" ;;
        *) return 1 ;;
    esac
}

is_raspberry_pi_os() {
    [[ -f "$ROOT/etc/rpi-issue" ]] && return 0
    [[ -z "$ROOT" && -r /proc/device-tree/model ]] && grep -qai raspberry /proc/device-tree/model
}

os_codename() {
    # shellcheck disable=SC1091  # the target's os-release, not a file of this repository
    (. "$ROOT/etc/os-release" 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")
}

can_install_packages() { ((OS_PACKAGES)) && [[ -z "$ROOT" && "$(id -u)" == 0 ]] && have apt-get && have dpkg-query; }

pkg_installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- phase check: can this target take a release at all? -------------------------------------------------------
phase_check() {
    set_target_paths
    local ver
    ver="$(target_python_version)"
    if [[ -z "$ver" ]]; then
        if [[ -n "$ROOT" ]]; then die "no python3 in the root filesystem $ROOT (expected $ROOT/usr/bin/python3.11 or newer)"; fi
        die "no Python on the target ('$TARGET_PY' not found); edgepose needs Python 3.11+ (install python3, or pass --python)"
    fi
    local minor="${ver#3.}"
    if ((minor < 11)); then
        die "the target has Python $ver; edgepose needs Python 3.11 or newer (Raspberry Pi OS Bookworm or later)"
    fi
    say "    target python: $ver${ROOT:+ (in $ROOT)}"
    local free
    free="$(free_mb "$OPT")"
    if ((free < MIN_FREE_MB)); then
        die "not enough free space on the target: ${free} MB free under $OPT, need ${MIN_FREE_MB} MB"
    fi
    say "    free space: ${free} MB"
    if [[ -z "$ROOT" && "$(id -u)" != 0 ]]; then
        local d="$OPT"
        while [[ ! -d "$d" ]]; do d="$(dirname "$d")"; done
        [[ -w "$d" ]] || die "the target user cannot write $d: deploy as root, or give the user passwordless sudo"
    fi
    if [[ -z "$ROOT" ]] && ! "$TARGET_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if can_install_packages; then
            notice "python venv support missing: python3-venv will be installed"
        else
            die "'$TARGET_PY -m venv' is not usable on the target (install python3-venv)"
        fi
    fi
    if systemd_running; then say "    systemd: running"; else notice "systemd not running here (or --prefix/--root): systemctl steps will be skipped"; fi
}

# --- phase query: is this exact release (and these options) already the active one? ----------------------------
deployed_state() {
    printf 'release=%s\nkey=%s\nscript=%s\n' "$RELEASE" "$STATE_KEY" "$SCRIPT_VERSION"
}

already_deployed() {
    [[ "$(current_release)" == "$RELEASE" ]] || return 1
    # A --root release is complete once its venv is waiting for first boot.
    [[ -f "$RELEASES/$RELEASE/.complete" || (-n "$ROOT" && -f "$RELEASES/$RELEASE/.firstboot") ]] || return 1
    [[ -f "$STATE_FILE" && "$(cat "$STATE_FILE")" == "$(deployed_state)" ]] || return 1
    render_unit "$RELEASES/$RELEASE/systemd/edgepose.service" | cmp -s - "$UNITDIR/edgepose.service"
}

phase_query() {
    set_target_paths
    if already_deployed; then say "already-deployed"; else say "needs-install"; fi
}

# --- OS packages ------------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]} == 0)); then
        say "    OS packages already installed: $*"
        return 0
    fi
    if ! can_install_packages; then
        notice "cannot install ${missing[*]} here (no apt-get, not root, --root or --no-os-packages): install them on the device"
        return 0
    fi
    if ((!APT_UPDATED)); then
        act env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    act env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

libedgetpu_deb_url() {
    local codename arch version
    codename="$(os_codename)"
    arch="$(dpkg --print-architecture 2>/dev/null || true)"
    version="$(printf '%s' "$LIBEDGETPU_TAG" | tr '[:upper:]' '[:lower:]')"
    case "$codename" in bookworm | trixie) ;; *) return 1 ;; esac
    case "$arch" in arm64 | armhf | amd64) ;; *) return 1 ;; esac
    printf '%s/%s/libedgetpu1-%s_%s.%s_%s.deb' "$LIBEDGETPU_URL_BASE" "$LIBEDGETPU_TAG" "$LIBEDGETPU_VARIANT" \
        "$version" "$codename" "$arch"
}

install_libedgetpu() {
    if pkg_installed libedgetpu1-std || pkg_installed libedgetpu1-max; then
        say "    libedgetpu already installed"
        return 0
    fi
    local url
    if ! url="$(libedgetpu_deb_url)"; then
        notice "no feranick libedgetpu build known for '$(os_codename)'/$(dpkg --print-architecture 2>/dev/null || uname -m); install libedgetpu by hand (docs/deploy.md)"
        return 0
    fi
    if ! can_install_packages; then
        notice "libedgetpu not installed; on the device run: curl -fLO $url && sudo apt-get install ./${url##*/}"
        return 0
    fi
    local key want
    key="$(os_codename)_$(dpkg --print-architecture 2>/dev/null || true)"
    want="${LIBEDGETPU_SHA256:-}"
    if [[ -z "$want" && "$LIBEDGETPU_TAG" == "$LIBEDGETPU_PINNED_TAG" ]]; then want="$(libedgetpu_pinned_sha256 "$key")"; fi
    if [[ ! "$want" =~ ^[0-9a-f]{64}$ ]]; then
        notice "no pinned sha256 for $url: not installing an unchecked package; check its hash and set LIBEDGETPU_SHA256, or install it by hand (docs/deploy.md)"
        return 0
    fi
    step "installing libedgetpu from $url"
    local deb="${LIBEDGETPU_DOWNLOAD_DIR:-/var/cache/apt/archives}/${url##*/}"
    if have curl; then act curl -fsSL -o "$deb" "$url"; else act "$TARGET_PY" -c \
        'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$deb"; fi
    if ((DRY_RUN)); then
        say "    [dry-run] would check sha256 $want"
    else
        local got
        got="$(sha256sum "$deb" | cut -d' ' -f1)"
        if [[ "$got" != "$want" ]]; then
            rm -f "$deb"
            die "${url##*/}: sha256 $got, expected $want; not installed (a changed or tampered download)"
        fi
        say "    sha256 $got: as pinned"
    fi
    act env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb"
}

install_os_packages() {
    step "OS packages"
    if ! "$TARGET_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_install python3-venv; fi
    if is_raspberry_pi_os; then apt_install python3-picamera2; else say "    not Raspberry Pi OS: python3-picamera2 not needed"; fi
    if ((WITH_BROKER)); then
        apt_install mosquitto mosquitto-clients
        if systemd_running && ((!DRY_RUN)); then act systemctl enable --now mosquitto.service; fi
    fi
    if ((EDGETPU)); then install_libedgetpu; fi
}

# --- config, credential, unit -----------------------------------------------------------------------------------
# $1: the config given with --config for this deployment (may not exist); $2: the release directory.
install_config() {
    step "configuration in $ETC"
    act mkdir -p "$ETC"
    local given="$1" src="$2"
    if [[ -f "$given" ]]; then
        if cmp -s "$given" "$ETC/edgepose.toml"; then
            say "    $F_ETC/edgepose.toml is already the given config"
        else
            if [[ -f "$ETC/edgepose.toml" ]]; then
                act cp -p "$ETC/edgepose.toml" "$ETC/edgepose.toml.bak-$(date +%Y%m%d%H%M%S)"
            fi
            act install -m 0644 "$given" "$ETC/edgepose.toml"
            say "    installed the given config as $F_ETC/edgepose.toml"
        fi
    elif [[ -f "$ETC/edgepose.toml" ]]; then
        say "    keeping the existing $F_ETC/edgepose.toml"
    elif [[ -f "$src/docs/edgepose.example.toml" ]]; then
        act install -m 0644 "$src/docs/edgepose.example.toml" "$ETC/edgepose.toml"
        say "    wrote $F_ETC/edgepose.toml from docs/edgepose.example.toml: edit it, then restart edgepose"
    else
        if ((DRY_RUN)); then
            say "    [dry-run] would write a minimal $F_ETC/edgepose.toml (all defaults)"
        else
            # Every key has a default (issue 4), so an empty table set is a valid config.
            cat >"$ETC/edgepose.toml" <<'EOF'
# edgepose configuration (written by deploy.sh). Every key is optional; see the README's
# configuration reference. The MQTT password goes in /etc/edgepose/mqtt_password, not here.
EOF
            chmod 0644 "$ETC/edgepose.toml"
        fi
        say "    wrote a minimal $F_ETC/edgepose.toml (all defaults): edit it, then restart edgepose"
    fi
    # LoadCredential= fails the unit when the source file is missing; an empty file means "no password".
    if [[ ! -e "$ETC/mqtt_password" ]]; then
        act install -m 0600 /dev/null "$ETC/mqtt_password"
        say "    created an empty $F_ETC/mqtt_password (put the broker password there, mode 0600)"
    fi
}

install_unit() {
    step "systemd unit in $UNITDIR"
    act mkdir -p "$UNITDIR"
    local src="$RELEASES/$1/systemd/edgepose.service"
    if render_unit "$src" | cmp -s - "$UNITDIR/edgepose.service"; then
        say "    edgepose.service unchanged"
    elif ((DRY_RUN)); then
        say "    [dry-run] would install edgepose.service"
    else
        render_unit "$src" >"$UNITDIR/edgepose.service.tmp"
        chmod 0644 "$UNITDIR/edgepose.service.tmp"
        mv -f "$UNITDIR/edgepose.service.tmp" "$UNITDIR/edgepose.service"
    fi
    local dropin="$UNITDIR/edgepose.service.d/edgetpu.conf"
    if ((EDGETPU)); then
        # Only the groups that exist: a missing group makes the unit fail at start (status 216/GROUP).
        local groups="plugdev"
        if getent group apex >/dev/null 2>&1 || grep -q '^apex:' "$ROOT/etc/group" 2>/dev/null; then groups+=" apex"; fi
        local want
        want="$(printf '# Written by deploy.sh --edgetpu: Edge TPU device groups (USB: plugdev, PCIe/M.2: apex).\n[Service]\nSupplementaryGroups=%s\n' "$groups")"
        if [[ "$(cat "$dropin" 2>/dev/null)" != "$want" ]]; then
            act mkdir -p "${dropin%/*}"
            if ((DRY_RUN)); then say "    [dry-run] would write $dropin"; else printf '%s\n' "$want" >"$dropin"; fi
        fi
        [[ "$groups" == *apex* ]] || notice "group 'apex' does not exist: fine for a USB Coral; a PCIe/M.2 Coral needs gasket-dkms (docs/deploy.md)"
    fi
}

enable_unit_links() {
    # What `systemctl enable` does, done by hand for a root filesystem that is not running.
    local wants="$UNITDIR/multi-user.target.wants"
    act mkdir -p "$wants"
    act ln -sfn "$PREFIX/etc/systemd/system/edgepose.service" "$wants/edgepose.service"
}

# --- releases ---------------------------------------------------------------------------------------------------
switch_current() {
    # Atomic: a new symlink renamed over the old one. Relative, so it is right both on the device and in --root.
    act ln -sfn "releases/$1" "$OPT/current.tmp"
    act mv -T "$OPT/current.tmp" "$OPT/current"
}

create_venv() {
    local rel="$RELEASES/$1"
    step "creating the venv in $F_OPT/releases/$1/venv (--system-site-packages)"
    # With a system pip visible through --system-site-packages, the venv needs no pip of its own (ensurepip
    # costs ~15 s on a Pi); `venv/bin/python -m pip` then installs into the venv.
    local venv_args=(--system-site-packages)
    if "$TARGET_PY" -c 'import pip' >/dev/null 2>&1; then venv_args+=(--without-pip); fi
    act "$TARGET_PY" -m venv "${venv_args[@]}" "$rel/venv"
    # Keep the OS numpy (picamera2/simplejpeg are built against it): pin whatever numpy the venv already sees.
    local np py="$rel/venv/bin/python"
    ((DRY_RUN)) && py="$TARGET_PY"
    np="$("$py" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)"
    local constraints=()
    if [[ -n "$np" ]]; then
        say "    keeping the system numpy $np"
        if ((!DRY_RUN)); then printf 'numpy==%s\n' "$np" >"$rel/constraints.txt"; fi
        constraints=(-c "$rel/constraints.txt")
    fi
    local wheel
    wheel="$(find "$rel" -maxdepth 1 -name 'edgepose-*.whl' -print -quit 2>/dev/null || true)"
    if ((DRY_RUN)); then wheel="${wheel:-$rel/edgepose-<version>.whl}"; fi
    # A --root release carries its dependencies' wheels (wheels/): installed from there only, no network.
    local index=()
    if [[ -d "$rel/wheels" ]]; then index=(--no-index --find-links "$rel/wheels"); fi
    step "installing $(basename "$wheel") into the venv${index[*]:+ (from the shipped wheels, offline)}"
    act "$rel/venv/bin/python" -m pip install --no-input --disable-pip-version-check -q "${index[@]}" \
        "${constraints[@]}" "$wheel"
}

health_check() {
    local out
    if ! out="$("$OPT/current/venv/bin/edgepose" --version 2>&1)"; then
        say "    health check failed: 'edgepose --version' in the new release: ${out##*$'\n'}"
        return 1
    fi
    say "    $out"
    if systemd_running; then
        step "restarting edgepose.service"
        systemctl daemon-reload
        systemctl enable edgepose.service
        if ! systemctl restart edgepose.service; then
            say "    health check failed: edgepose.service did not start ($(systemctl is-active edgepose.service 2>/dev/null || true))"
            journalctl -u edgepose.service -n 20 --no-pager 2>/dev/null | sed 's/^/    | /' || true
            return 1
        fi
        wait_online
    fi
}

# Wait for the daemon's retained `online` on <prefix>/<device_id>/status, with the venv's paho-mqtt.
# Config keys read: [device] id; [mqtt] host, port, prefix, username, password_file/_env; [mqtt.tls].
wait_online() {
    step "waiting up to ${ONLINE_TIMEOUT_S}s for the daemon's 'online' status"
    local result
    result="$(EDGEPOSE_CONFIG="$ETC/edgepose.toml" EDGEPOSE_PASSWORD_FILE="$ETC/mqtt_password" \
        "$OPT/current/venv/bin/python" - "$ONLINE_TIMEOUT_S" 2>&1 <<'PY' || true
import os, sys, threading, tomllib
import paho.mqtt.client as mqtt
from edgepose.config import default_device_id

# The daemon's keys (docs/configuration.md); environment overrides are not applied here.
with open(os.environ["EDGEPOSE_CONFIG"], "rb") as f:
    cfg = tomllib.load(f)
m = cfg.get("mqtt", {})
tls = m.get("tls", {})
host, port = str(m.get("host", "localhost")), int(m.get("port", 1883))
base = f"{m.get('prefix', 'edgepose')}/{cfg.get('device', {}).get('id') or default_device_id()}"
done = threading.Event()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
if m.get("username"):
    pw = None
    if m.get("password_env"):
        pw = os.environ.get(m["password_env"])
    else:
        with open(m.get("password_file") or os.environ["EDGEPOSE_PASSWORD_FILE"]) as f:
            pw = f.read().rstrip("\r\n") or None
    c.username_pw_set(str(m["username"]), pw)
if tls.get("enabled"):
    c.tls_set(ca_certs=tls.get("ca_file") or None, certfile=tls.get("cert_file") or None,
              keyfile=tls.get("key_file") or None)
c.on_connect = lambda cl, *a: cl.subscribe(base + "/status")
c.on_message = lambda cl, u, msg: msg.payload == b"online" and done.set()
try:
    c.connect(host, port, 10)
except OSError as e:
    print(f"fail broker {host}:{port} unreachable ({e})")
    sys.exit(0)
c.loop_start()
ok = done.wait(float(sys.argv[1]))
c.loop_stop()
print(f"online {host} {port} {base}" if ok else f"fail nothing on {base}/status from {host}:{port}")
PY
)"
    local last="${result##*$'\n'}"
    if [[ "$last" == online* ]]; then
        local host port base
        read -r _ host port base <<<"$last"
        say "    daemon is online"
        say "    subscribe with: mosquitto_sub -h $host -p $port -t '$base/#' -v"
    else
        local state="not managed by systemd here"
        if systemd_running; then state="$(systemctl is-active edgepose.service 2>/dev/null || true)"; fi
        warn "no 'online' status seen (${last#fail }); edgepose.service: $state"
        warn "check the broker settings in $F_ETC/edgepose.toml and 'journalctl -u edgepose -f'"
    fi
}

prune_releases() {
    local cur keep_n="$KEEP" n=0 d name
    cur="$(current_release)"
    # Newest first by the time each release was last activated (.complete is touched on activation).
    while IFS= read -r d; do
        name="${d##*/}"
        [[ "$name" == "$cur" ]] && continue
        n=$((n + 1))
        if ((n >= keep_n)); then
            step "removing old release $name (keeping $KEEP)"
            act rm -rf "$RELEASES/$name"
        fi
    done < <(
        for d in "$RELEASES"/*/; do
            d="${d%/}"
            [[ -d "$d" ]] || continue
            printf '%s %s\n' "$(stat -c %Y "$d/.complete" 2>/dev/null || echo 0)" "$d"
        done | sort -rn | cut -d' ' -f2-
    )
}

write_firstboot_unit() {
    local unit="$UNITDIR/edgepose-firstboot.service" rel="$F_OPT/releases/$RELEASE"
    local flags="--python $TARGET_PY --keep $KEEP"
    ((EDGETPU)) && flags+=" --edgetpu"
    ((WITH_BROKER)) && flags+=" --with-broker"
    ((OS_PACKAGES)) || flags+=" --no-os-packages"
    [[ -z "$PREFIX" ]] || flags+=" --prefix $PREFIX"
    if ((DRY_RUN)); then
        say "    [dry-run] would write $unit and enable it (creates the venv at first boot)"
        return 0
    fi
    cat >"$unit" <<EOF
# Written by deploy.sh --root: builds the venv of release $RELEASE on the device at first boot
# (a venv cannot be built for another architecture offline), then starts edgepose.service.
[Unit]
Description=edgepose first-boot install (venv for release $RELEASE)
Before=edgepose.service
ConditionPathExists=$rel/.firstboot

[Service]
Type=oneshot
ExecStart=/bin/bash $rel/deploy.sh --firstboot --release $RELEASE $flags
# pip installs from the release's wheels/ (no network); a failure is retried.
Restart=on-failure
RestartSec=60s
TimeoutStartSec=30min

[Install]
WantedBy=multi-user.target
RequiredBy=edgepose.service
EOF
    chmod 0644 "$unit"
    mkdir -p "$UNITDIR/multi-user.target.wants" "$UNITDIR/edgepose.service.requires"
    ln -sfn "$PREFIX/etc/systemd/system/edgepose-firstboot.service" "$UNITDIR/multi-user.target.wants/edgepose-firstboot.service"
    ln -sfn "$PREFIX/etc/systemd/system/edgepose-firstboot.service" "$UNITDIR/edgepose.service.requires/edgepose-firstboot.service"
}

# --- phase install ------------------------------------------------------------------------------------------------
phase_install() {
    set_target_paths
    [[ -n "$RELEASE" ]] || die "internal: --release missing" 70
    if already_deployed; then
        say "already deployed: release $RELEASE is current; nothing to do"
        if [[ -n "$STAGING" && -d "$STAGING" ]]; then act rm -rf "$STAGING"; fi
        return 0
    fi
    if ((OS_PACKAGES)) && [[ -z "$ROOT" ]]; then install_os_packages; fi
    local rel="$RELEASES/$RELEASE" previous reuse=0
    previous="$(current_release)"
    act mkdir -p "$RELEASES"
    if [[ -f "$rel/.complete" ]]; then
        step "release $RELEASE is already on the device; reusing it"
        reuse=1
    else
        step "unpacking release $RELEASE into $F_OPT/releases/"
        [[ -e "$rel" ]] && act rm -rf "$rel"
        if ((DRY_RUN)); then
            say "    [dry-run] would move the uploaded files to $rel"
        else
            [[ -d "$STAGING" ]] || die "internal: staging directory '$STAGING' missing" 70
            mv "$STAGING" "$rel"
            chmod 0755 "$rel"
            if [[ "$(id -u)" == 0 ]]; then chown -R 0:0 "$rel"; fi
        fi
    fi
    # The config of this deployment: in the upload (a reused release may carry an older one).
    if ((reuse)); then
        install_config "$STAGING/config/edgepose.toml" "$rel"
    else
        install_config "$rel/config/edgepose.toml" "$rel"
    fi
    if [[ -n "$STAGING" && -d "$STAGING" ]]; then act rm -rf "$STAGING"; fi

    if [[ -n "$ROOT" ]]; then
        # No venv for another architecture: the device builds it at first boot.
        ((reuse)) || act touch "$rel/.firstboot"
        install_unit "$RELEASE"
        write_firstboot_unit
        enable_unit_links
        switch_current "$RELEASE"
        if ((!DRY_RUN)); then deployed_state >"$STATE_FILE"; fi
        prune_releases
        say "release $RELEASE installed into $ROOT; edgepose-firstboot.service builds its venv at first boot"
        return 0
    fi

    ((reuse)) || create_venv "$RELEASE"
    install_unit "$RELEASE"
    if ((DRY_RUN)); then
        say "    [dry-run] would switch $F_OPT/current to releases/$RELEASE, run the health check and restart the service"
        return 0
    fi
    [[ -d "$rel/venv" ]] || die "release $RELEASE has no venv" 70
    step "activating release $RELEASE (previous: ${previous:-none})"
    switch_current "$RELEASE"
    if ! health_check; then
        if [[ -n "$previous" && -d "$RELEASES/$previous" && "$previous" != "$RELEASE" ]]; then
            switch_current "$previous"
            install_unit "$previous"
            if systemd_running; then
                systemctl daemon-reload || true
                systemctl restart edgepose.service || warn "the previous release did not restart either"
            fi
            rm -rf "$rel"
            die "deploy of $RELEASE failed; rolled back to release $previous"
        fi
        rm -f "$OPT/current"
        rm -rf "$rel"
        die "deploy of $RELEASE failed and there is no previous release to roll back to"
    fi
    touch "$rel/.complete"
    deployed_state >"$STATE_FILE"
    prune_releases
    say "deployed release $RELEASE"
    if ! systemd_running; then
        notice "systemd is not running on the target (or --prefix): not enabling/restarting edgepose.service"
        say "    run it: $F_OPT/current/venv/bin/edgepose run --config $F_ETC/edgepose.toml"
        say "    watch it: $F_OPT/current/venv/bin/edgepose listen   (or mosquitto_sub -t '<prefix>/<device_id>/#' -v)"
    fi
}

# --- first boot after --root --------------------------------------------------------------------------------------
firstboot_main() {
    set_target_paths
    local rel="$RELEASES/$RELEASE"
    [[ -f "$rel/.firstboot" ]] || { say "release $RELEASE: nothing to do at first boot"; return 0; }
    # apt needs network, the venv does not (the release's wheels/): without network, go on and say so. In its own
    # process, so that set -e still stops it at the first failing apt step (it would not under `||`).
    if ((OS_PACKAGES)); then
        install_os_packages &
        wait $! || warn "OS packages not installed (no network?): install them later, then restart edgepose"
    fi
    [[ -d "$rel/venv" ]] && rm -rf "$rel/venv"
    create_venv "$RELEASE"
    "$rel/venv/bin/edgepose" --version || die "release $RELEASE: 'edgepose --version' fails in the new venv"
    touch "$rel/.complete"
    rm -f "$rel/.firstboot"
    say "release $RELEASE is ready"
    if [[ -d /run/systemd/system ]]; then systemctl --no-block start edgepose.service || true; fi
}

target_main() {
    case "$PHASE" in
        check) phase_check ;;
        query) phase_query ;;
        install) phase_install ;;
        # The post-restart check on its own (used by the tests, and handy after editing the config).
        wait-online) set_target_paths; wait_online ;;
        *) die "internal: unknown phase '$PHASE'" 70 ;;
    esac
}

# ===============================================================================================================
# Workstation side.
SCRIPT_PATH="${BASH_SOURCE[0]:-$0}"
WORK=""
cleanup() {
    if [[ -n "$WORK" && -S "$WORK/ssh.sock" ]]; then
        "${SSH[@]}" -O exit "$HOST" >/dev/null 2>&1 || true
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
    return 0
}

ssh_base() {
    # One multiplexed connection for the whole run (a handful of ssh calls, one login).
    SSH=(ssh -o BatchMode=yes -o ConnectTimeout=10 -o ControlMaster=auto -o "ControlPath=$WORK/ssh.sock"
        -o ControlPersist=120)
    [[ -n "$PORT" ]] && SSH+=(-p "$PORT")
    [[ -n "$IDENTITY" ]] && SSH+=(-i "$IDENTITY" -o IdentitiesOnly=yes)
    SSH+=("${SSH_OPTS[@]}")
}

# Explain an ssh failure in one line: unreachable host vs. failed login vs. anything else.
ssh_error() {
    local err="$1" where="$HOST${PORT:+ port $PORT}"
    case "$err" in
        *"Connection refused"*) die "cannot reach $where: connection refused (is sshd running? right --port?)" 69 ;;
        *"Could not resolve hostname"* | *"Name or service not known"*) die "cannot resolve host '${HOST#*@}'" 69 ;;
        *"timed out"* | *"No route to host"* | *"Network is unreachable"*) die "cannot reach $where: ${err##*: }" 69 ;;
        *"Host key verification failed"*) die "ssh host key verification failed for $where (check ~/.ssh/known_hosts)" 69 ;;
        *"Permission denied"* | *"Too many authentication failures"*)
            die "ssh login to $HOST failed: key not accepted (use --identity FILE, or ssh-copy-id first)" 77 ;;
        *) die "ssh to $where failed: $(printf '%s' "$err" | tr '\n' ' ')" 69 ;;
    esac
}

SUDO=()
# Run this script's target side on the target with the given arguments (the script travels on stdin).
run_target() {
    local args=(--on-target --python "$TARGET_PY" --keep "$KEEP" --min-free-mb "$MIN_FREE_MB"
        --online-timeout "$ONLINE_TIMEOUT_S")
    ((EDGETPU)) && args+=(--edgetpu)
    ((WITH_BROKER)) && args+=(--with-broker)
    ((DRY_RUN)) && args+=(--dry-run)
    ((OS_PACKAGES)) || args+=(--no-os-packages)
    [[ -n "$PREFIX" ]] && args+=(--prefix "$PREFIX")
    args+=("$@")
    if [[ -n "$ROOT" ]]; then
        bash "$SCRIPT_PATH" --root "$ROOT" "${args[@]}"
    else
        "${SSH[@]}" "$HOST" "$(quote "${SUDO[@]}" bash -s -- "${args[@]}")" <"$SCRIPT_PATH"
    fi
}

check_connection() {
    step "checking ssh access to $HOST${PORT:+ port $PORT}"
    local err uid
    if ! uid="$("${SSH[@]}" "$HOST" 'id -u' 2>"$WORK/ssh.err")"; then
        err="$(cat "$WORK/ssh.err")"
        ssh_error "$err"
    fi
    if [[ "$uid" != 0 ]]; then
        if "${SSH[@]}" "$HOST" 'sudo -n true' >/dev/null 2>&1; then
            SUDO=(sudo -n)
            say "    logged in as uid $uid; using sudo"
        elif [[ -z "$PREFIX" ]]; then
            die "the ssh user on $HOST is not root and has no passwordless sudo: deploy needs to write /opt and /etc" 77
        fi
    fi
}

# Build the wheel from a clean copy of the sources (no stale build/ files), reproducibly: SOURCE_DATE_EPOCH
# fixes the zip timestamps, and the release id hashes the wheel's contents, not its bytes. Only the runtime
# distribution is built and shipped: dev/ (edgepose-dev: model build, MediaPipe reference, eval) is not copied.
build_bundle() {
    local src="${SOURCE_DIR:-$(cd "$(dirname "$SCRIPT_PATH")" && pwd)}"
    [[ -f "$src/pyproject.toml" ]] || die "no pyproject.toml in $src (run deploy.sh from the edgepose checkout, or pass --source)"
    have python3 || die "python3 is needed on this machine to build the wheel"
    local copy="$WORK/src" bundle="$WORK/bundle" wheel
    mkdir -p "$copy" "$bundle/models" "$bundle/systemd" "$bundle/docs"
    if [[ -n "$WHEEL" ]]; then
        [[ -f "$WHEEL" && "$(basename "$WHEEL")" == edgepose-*.whl ]] || die "--wheel: not an edgepose wheel: $WHEEL"
        step "using the wheel $WHEEL"
        cp "$WHEEL" "$bundle/"
    else
        step "building the wheel from $src"
        tar -C "$src" --exclude=./.git --exclude=./models --exclude=./tests --exclude=./dev --exclude=./build \
            --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ --exclude='./.venv*' --exclude=./.cache \
            -cf - . |
            tar -C "$copy" -xf -
        if ! SOURCE_DATE_EPOCH=315532800 python3 -m pip wheel --no-deps --disable-pip-version-check -q \
            -w "$bundle" "$copy" >"$WORK/build.log" 2>&1; then
            sed 's/^/    | /' "$WORK/build.log" | tail -n 20 >&2
            die "building the wheel failed (see above)"
        fi
    fi
    wheel="$(find "$bundle" -maxdepth 1 -name 'edgepose-*.whl' -print -quit)"
    [[ -n "$wheel" ]] || die "pip produced no edgepose wheel in $bundle"
    say "    $(basename "$wheel")"

    if [[ -n "$ROOT" ]]; then download_wheels "$wheel" "$bundle/wheels"; fi

    local n=0 f
    for f in "$src"/models/*.tflite "$src"/models/manifest.json; do
        [[ -f "$f" ]] || continue
        cp -p "$f" "$bundle/models/"
        n=$((n + 1))
    done
    if ((n == 0)); then warn "no int8 models in $src/models (run 'edgepose models build'); the release ships none"; fi
    say "    models: $n file(s) from $src/models (models/float is not shipped)"
    [[ -f "$src/systemd/edgepose.service" ]] || die "missing $src/systemd/edgepose.service"
    cp "$src/systemd/edgepose.service" "$bundle/systemd/"
    for f in systemd.md deploy.md edgepose.example.toml; do
        if [[ -f "$src/docs/$f" ]]; then cp "$src/docs/$f" "$bundle/docs/"; fi
    done
    cp "$SCRIPT_PATH" "$bundle/deploy.sh"
    chmod 0755 "$bundle/deploy.sh"
    if [[ -n "$CONFIG_FILE" ]]; then
        [[ -f "$CONFIG_FILE" ]] || die "config file not found: $CONFIG_FILE"
        mkdir -p "$bundle/config"
        cp "$CONFIG_FILE" "$bundle/config/edgepose.toml"
    fi

    local version hash
    version="$(basename "$wheel" | cut -d- -f2)"
    # Release id: wheel contents + models + unit + this script (the config is deployment state, not release).
    hash="$(python3 - "$bundle" <<'PY'
import hashlib, pathlib, sys, zipfile
root = pathlib.Path(sys.argv[1])
h = hashlib.sha256()
for p in sorted(root.rglob("*")):
    if not p.is_file() or p.parts[len(root.parts)] == "config":
        continue
    rel = p.relative_to(root).as_posix()
    if p.suffix == ".whl" and p.parent == root:  # the edgepose wheel: its contents (zip dates vary)
        with zipfile.ZipFile(p) as z:
            for name in sorted(z.namelist()):
                if not name.endswith(".dist-info/RECORD"):
                    h.update(name.encode() + b"\0" + hashlib.sha256(z.read(name)).digest())
    else:
        h.update(rel.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
print(h.hexdigest()[:12])
PY
)"
    RELEASE="$version-$hash"
    local cfg_hash="none"
    [[ -n "$CONFIG_FILE" ]] && cfg_hash="$(sha256sum "$CONFIG_FILE" | cut -c1-12)"
    STATE_KEY="edgetpu=$EDGETPU,broker=$WITH_BROKER,config=$cfg_hash"
    say "    release: $RELEASE"
}

# The wheels of edgepose and of every dependency, for the root filesystem's Python and CPU, so that its first
# boot installs offline. The OS numpy (if any) is kept at install time; its wheel is shipped all the same.
download_wheels() {
    local wheel="$1" dest="$2" ver arch platforms p
    ver="$(target_python_version)"
    arch="$(root_arch)"
    platforms="$(wheel_platforms "$arch")" || die "--root: no binary wheels of edgepose's dependencies for $arch (aarch64 or x86_64 only)"
    local args=(--only-binary=:all: --python-version "$ver" --implementation cp)
    for p in $platforms; do args+=(--platform "$p"); done
    step "downloading the wheels for Python $ver on $arch (the device installs them offline at first boot)"
    mkdir -p "$dest"
    if ! python3 -m pip download --disable-pip-version-check -q "${args[@]}" -d "$dest" "$wheel" \
        >"$WORK/wheels.log" 2>&1; then
        sed 's/^/    | /' "$WORK/wheels.log" | tail -n 20 >&2
        die "downloading the dependency wheels for Python $ver on $arch failed (see above); the workstation needs network for this step" 69
    fi
    rm -f "$dest"/edgepose-*.whl  # pip copies it here too; the release has it at its top
    say "    wheels: $(find "$dest" -name '*.whl' | wc -l) file(s), $(du -sm "$dest" | cut -f1) MB"
}

upload_bundle() {
    step "copying the release to $HOST"
    local out
    # shellcheck disable=SC2016  # expanded by the remote shell
    if ! out="$(tar -C "$WORK/bundle" -cf - . |
        "${SSH[@]}" "$HOST" 'd=$(mktemp -d "${TMPDIR:-/tmp}/edgepose-deploy.XXXXXX") && tar -C "$d" -xf - && echo "$d"')"; then
        die "copying the release to $HOST failed"
    fi
    STAGING="$out"
}

local_main() {
    if [[ -n "$ROOT" ]]; then
        [[ -z "$HOST" ]] || die "give either a host or --root DIR, not both" 64
        [[ -d "$ROOT" ]] || die "--root: $ROOT is not a directory (mount the SD card's root filesystem first)" 66
        ROOT="$(cd "$ROOT" && pwd)"
        [[ -d "$ROOT/etc" ]] || die "--root: $ROOT does not look like a root filesystem (no etc/)" 66
    else
        [[ -n "$HOST" ]] || { usage >&2; die "no target: give [user@]host or --root DIR" 64; }
        have ssh || die "ssh is not installed on this machine"
    fi
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/edgepose-deploy-local.XXXXXX")"
    trap cleanup EXIT
    ((DRY_RUN)) && say "dry run: nothing will be changed here or on the target"

    if [[ -z "$ROOT" ]]; then
        ssh_base
        check_connection
    fi
    step "checking the target"
    run_target --phase check || exit $?
    build_bundle
    local state
    state="$(run_target --phase query --release "$RELEASE" --state-key "$STATE_KEY" | tail -n1)"
    if [[ "$state" == already-deployed ]]; then
        say "already deployed: release $RELEASE is current on ${HOST:-$ROOT}; nothing changed"
        return 0
    fi
    if ((DRY_RUN)); then
        step "[dry-run] would copy the release (wheel, models, unit) to ${HOST:-$ROOT}"
        run_target --phase install --release "$RELEASE" --state-key "$STATE_KEY"
        say "dry run finished: nothing was changed"
        return 0
    fi
    if [[ -n "$ROOT" ]]; then
        STAGING="$WORK/bundle"
        run_target --phase install --release "$RELEASE" --state-key "$STATE_KEY" --staging "$STAGING"
    else
        upload_bundle
        run_target --phase install --release "$RELEASE" --state-key "$STATE_KEY" --staging "$STAGING"
    fi
}

main() {
    parse_args "$@"
    if ((FIRSTBOOT)); then
        firstboot_main
    elif ((ON_TARGET)); then
        target_main
    else
        local_main
    fi
}

# EDGEPOSE_DEPLOY_FUNCTIONS_ONLY=1: define the functions and stop (the tests call single functions).
[[ "${EDGEPOSE_DEPLOY_FUNCTIONS_ONLY:-}" == 1 ]] || main "$@"
