#!/usr/bin/env bash
# Runs the test command (scripts/test.sh) against Debian 13 (trixie)'s
# GStreamer 1.26, in a debootstrap chroot, with the host's Rust toolchain.
# The host itself (Debian 12) tests GStreamer 1.22 with scripts/test.sh.
#
# Needs root (debootstrap, mounts) and network to a Debian mirror and
# crates.io; installs debootstrap on the host if it is missing.
#
#   bash scripts/test-trixie.sh            # create or reuse the chroot, build, test
#   bash scripts/test-trixie.sh --shell    # a shell in the prepared chroot
#   bash scripts/test-trixie.sh --run CMD  # CMD in the prepared chroot, e.g.
#       --run cargo test --release --test raw_talk -- lost_packets
#
# Layout, outside the repository (TRIXIE_CACHE, default
# /var/cache/onvifbackchannel-ci):
#   trixie/        the chroot; reused when trixie.ready says it is complete,
#                  created again from scratch otherwise
#   target/        CARGO_TARGET_DIR of the chroot build (kept between runs)
#   lock           one run at a time
#
# Everything that mounts runs in its own mount and PID namespace
# (setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child): the
# mounts are never visible outside it and vanish with it, and every process
# in it is killed when this script ends, so an interrupted run (Ctrl+C,
# kill, even kill -9) leaves no mount and no process behind. An EXIT trap
# also unmounts in order.
# Mounted into the chroot: /proc (of the new PID namespace), /dev (with
# /dev/pts and /dev/shm), /sys, the host's CARGO_HOME and RUSTUP_HOME (at
# /root/.cargo, /root/.rustup), the repository at its own path, the target
# directory at /build/target. /tmp is the chroot's own, emptied each run.
#
# Measured on the 2-core development machine (GStreamer 1.26.2), shared with
# other builds (load average 4 to 9), in seconds:
#                                     fresh machine    chroot and target/ kept
#   debootstrap --variant=minbase      23 to 67          -
#   packages (deps.sh, 200 packages)   48 to 213         1
#   build (cargo build --all-targets) 106 to 536        113 (the crate and its tests)
#   tests (scripts/test.sh)           185 to 263        299
#   total                             370 to 1080       413
# The ~/.cargo registry is warm in CI (scripts/test.sh ran first on the host).
# Environment: TRIXIE_CACHE (above), TRIXIE_MIRROR (default: the Debian
# mirror the host's apt uses, else http://deb.debian.org/debian).
set -euo pipefail

SUITE=trixie

die() {
    echo "test-trixie.sh: $*" >&2
    exit 1
}

step_start=0
step() {
    echo "==> [trixie] $*"
    step_start=$SECONDS
}
step_done() {
    echo "==> [trixie] $1: $((SECONDS - step_start)) s"
}

# The Debian mirror the host's apt uses (deb822 or one-line sources), so the
# chroot comes from where packages already come from on this machine.
host_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        while read -r uri; do
            [[ $uri == */debian ]] && { echo "$uri"; return; }
        done < <(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f")
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        while read -r uri; do
            [[ $uri == */debian ]] && { echo "$uri"; return; }
        done < <(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f")
    done
    echo http://deb.debian.org/debian
}

# ---- inside the private namespace ------------------------------------------
inside() {
    local chroot=$CACHE/$SUITE ready=$CACHE/$SUITE.ready target=$CACHE/target

    # An incomplete chroot (interrupted debootstrap or package install) is
    # removed and made again. Nothing can be mounted below it: its mounts
    # only ever existed in namespaces that are gone.
    if [[ ! -f $ready ]]; then
        if [[ -e $chroot ]]; then
            echo "test-trixie.sh: removing the incomplete chroot $chroot"
            if findmnt -rn -o TARGET | grep -q "^$chroot"; then
                die "something is mounted below $chroot; unmount it first"
            fi
            rm -rf --one-file-system "$chroot"
        fi
        step "debootstrap --variant=minbase $SUITE $chroot ($MIRROR)"
        local log=$CACHE/debootstrap.log
        if ! timeout 1200 debootstrap --variant=minbase --include=ca-certificates \
            "$SUITE" "$chroot" "$MIRROR" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            die "debootstrap failed (log: $log)"
        fi
        step_done debootstrap
        echo "$SUITE $MIRROR $(date -u +%FT%TZ)" >"$ready"
    fi

    # From here on everything in the chroot is reachable through mounts;
    # unmount them in reverse order however this shell ends.
    MOUNTS=()
    # shellcheck disable=SC2317  # called by the trap
    unmount_all() {
        local i
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
            umount -R "${MOUNTS[i]}" 2>/dev/null || umount -R -l "${MOUNTS[i]}" 2>/dev/null || true
        done
        MOUNTS=()
    }
    trap unmount_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bind() { # bind <host path> <path in chroot> [mount options...]
        local src=$1 dst=$chroot$2
        shift 2
        mkdir -p "$dst"
        mount "$@" "$src" "$dst"
        MOUNTS+=("$dst")
    }

    find "$chroot/tmp" -mindepth 1 -delete
    chmod 1777 "$chroot/tmp"
    cp -L /etc/resolv.conf "$chroot/etc/resolv.conf"
    # The certificate authorities added on the host (e.g. an HTTPS proxy's):
    # pip in the chroot (scripts/onvif-venv.sh) reaches PyPI the host's way.
    if [[ -d /usr/local/share/ca-certificates ]]; then
        mkdir -p "$chroot/usr/local/share/ca-certificates"
        cp -rT /usr/local/share/ca-certificates "$chroot/usr/local/share/ca-certificates"
        chroot "$chroot" /usr/sbin/update-ca-certificates >/dev/null 2>&1 ||
            echo "test-trixie.sh: update-ca-certificates failed in the chroot" >&2
    fi
    mkdir -p "$target"
    mount -t proc proc "$chroot/proc"
    MOUNTS+=("$chroot/proc")
    bind /dev /dev --rbind
    bind /sys /sys --rbind
    bind "$CARGO_DIR" /root/.cargo --bind
    bind "$RUSTUP_DIR" /root/.rustup --bind
    bind "$target" /build/target --bind
    bind "$ROOT" "$ROOT" --bind

    local env=(
        /usr/bin/env -i
        HOME=/root
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        CARGO_HOME=/root/.cargo
        RUSTUP_HOME=/root/.rustup
        CARGO_TARGET_DIR=/build/target
        LANG=C.UTF-8
        TERM="${TERM:-dumb}"
        CI="${CI:-}"
    )
    in_chroot() {
        chroot "$chroot" "${env[@]}" bash -c "cd \"\$1\" && shift && \"\$@\"" bash "$ROOT" "$@"
    }

    if [[ $MODE == shell ]]; then
        in_chroot bash -i
        return
    fi

    # The packages of scripts/deps.sh (the same list as on the host); the
    # first run installs them, later runs find them and print nothing.
    step "packages (scripts/deps.sh)"
    # An install that was interrupted is finished first (quiet when none was).
    if ! in_chroot env DEBIAN_FRONTEND=noninteractive dpkg --configure -a >"$CACHE/dpkg.log" 2>&1; then
        tail -n 30 "$CACHE/dpkg.log" >&2
        die "dpkg --configure -a failed in the chroot (log: $CACHE/dpkg.log)"
    fi
    in_chroot bash scripts/deps.sh
    in_chroot apt-get clean # the downloaded .debs (about 300 MB)
    step_done packages

    if [[ $MODE == run ]]; then
        in_chroot "$@"
        return
    fi

    local version
    version=$(in_chroot pkg-config --modversion gstreamer-1.0 gstreamer-rtsp-server-1.0 | paste -sd' ')
    echo "==> [trixie] GStreamer $version (gstreamer-1.0, gstreamer-rtsp-server-1.0)"
    case $version in
        1.2[4-9].*) ;;
        *) die "expected GStreamer 1.24 or newer in the $SUITE chroot, found $version" ;;
    esac

    step "build (cargo build --release --all-targets)"
    in_chroot cargo build --release --all-targets
    step_done build

    step "tests (scripts/test.sh)"
    local rc=0
    in_chroot bash scripts/test.sh || rc=$?
    step_done tests
    return "$rc"
}

# ---- on the host -------------------------------------------------------------
# Read whole before it runs (a function, and the block at the end), so
# editing this file during a run cannot change what the run does.
main() {
    MODE="test"
    CMD=()
    case ${1:-} in
        "") ;;
        --shell) MODE=shell ;;
        --run)
            MODE=run
            shift
            (($#)) || die "--run needs a command"
            CMD=("$@")
            ;;
        *) die "usage: $0 [--shell | --run COMMAND...]" ;;
    esac

    [[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mounts)"
    for tool in unshare setpriv chroot mount findmnt flock timeout; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
    done

    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
    CACHE=${TRIXIE_CACHE:-/var/cache/onvifbackchannel-ci}
    MIRROR=${TRIXIE_MIRROR:-$(host_mirror)}
    CARGO_DIR=${CARGO_HOME:-${HOME:-/root}/.cargo}
    RUSTUP_DIR=${RUSTUP_HOME:-${HOME:-/root}/.rustup}
    [[ -x $CARGO_DIR/bin/cargo ]] || die "no cargo in $CARGO_DIR/bin (the host's rustup toolchain is mounted into the chroot)"
    [[ -d $RUSTUP_DIR/toolchains ]] || die "no rustup toolchains in $RUSTUP_DIR"
    CARGO_DIR=$(cd "$CARGO_DIR" && pwd -P)
    RUSTUP_DIR=$(cd "$RUSTUP_DIR" && pwd -P)
    case $ROOT in
        / | /proc | /proc/* | /dev | /dev/* | /sys | /sys/* | /root/.cargo* | /root/.rustup* | /build | /build/*)
            die "the repository at $ROOT would be hidden by a chroot mount; clone it elsewhere" ;;
    esac

    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "test-trixie.sh: installing debootstrap"
        log=$(mktemp)
        if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap ||
               { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap; }; } >"$log" 2>&1; then
            cat "$log" >&2
            die "could not install debootstrap"
        fi
        rm -f "$log"
    fi
    [[ -e /usr/share/debootstrap/scripts/$SUITE ]] || die "this debootstrap does not know $SUITE"

    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    if ! flock -n 9; then
        echo "test-trixie.sh: waiting for another run to release $CACHE/lock"
        flock -w 3600 9 || die "$CACHE/lock still held after an hour"
    fi

    export ROOT CACHE MIRROR CARGO_DIR RUSTUP_DIR MODE SUITE
    start=$SECONDS
    rc=0
    # If this shell dies, even by SIGKILL, the kernel kills unshare
    # (pdeathsig), unshare kills the namespace's first process
    # (--kill-child), and with it every process of the PID namespace.
    setpriv --pdeathsig KILL \
        unshare --mount --pid --fork --kill-child --propagation private \
        bash "$ROOT/scripts/test-trixie.sh" --in-namespace "${CMD[@]}" || rc=$?
    echo "==> [trixie] total: $((SECONDS - start)) s"
    if ((rc)); then
        echo "test-trixie.sh: FAILED (exit $rc)" >&2
        exit "$rc"
    fi
    echo "test-trixie.sh: OK"
}

{
    if [[ ${1:-} == --in-namespace ]]; then
        shift
        inside "$@"
    else
        main "$@"
    fi
    exit
}
