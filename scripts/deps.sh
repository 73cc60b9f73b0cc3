#!/usr/bin/env bash
# Install the system packages this crate needs (Debian 12 / GStreamer 1.22,
# Debian 13 / GStreamer 1.26: the same names) and make sure cargo is on PATH.
#
# Run it (`bash scripts/deps.sh`) or source it (`source scripts/deps.sh`);
# when sourced, the PATH fix for ~/.cargo/bin carries over to the caller.
# Quiet: prints a single line only when something has to be installed.

_deps_main() {
    local pkgs=(
        libgstreamer1.0-dev
        libgstreamer-plugins-base1.0-dev
        libgstrtspserver-1.0-dev
        gstreamer1.0-plugins-base
        gstreamer1.0-plugins-good
        gstreamer1.0-plugins-bad
        libgstreamer-plugins-bad1.0-dev
        gstreamer1.0-nice
        gstreamer1.0-plugins-ugly
        gstreamer1.0-libav
        gstreamer1.0-tools
        gstreamer1.0-rtsp
        libsoup-3.0-dev
        iproute2
        gstreamer1.0-alsa
        meson
        ninja-build
        pkg-config
        gcc
        libc6-dev
        python3-gi
        python3-venv
        gir1.2-gst-rtsp-server-1.0
        gir1.2-gstreamer-1.0
        gir1.2-gst-plugins-base-1.0
        glib-networking
        openssl
        curl
        chromium
        chromium-driver
    )
    local missing=() p status

    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        echo "deps.sh: dpkg/apt-get not found; this script supports Debian 12 and 13. Install the equivalents of: ${pkgs[*]}" >&2
        return 1
    fi

    for p in "${pkgs[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$p")
    done

    if ((${#missing[@]})); then
        local sudo=()
        if [[ $(id -u) -ne 0 ]]; then
            if ! command -v sudo >/dev/null 2>&1; then
                echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
                return 1
            fi
            sudo=(sudo)
        fi
        echo "deps.sh: installing ${missing[*]}"
        local log
        log=$(mktemp)
        if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
               "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "deps.sh: package installation failed" >&2
            return 1
        fi
        rm -f "$log"
    fi

    if ! command -v cargo >/dev/null 2>&1; then
        if [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
            export PATH="${HOME:-/root}/.cargo/bin:$PATH"
        else
            cat >&2 <<'MSG'
deps.sh: cargo not found. Install Rust with rustup, then re-run:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"
MSG
            return 1
        fi
    fi
}

if (return 0 2>/dev/null); then
    # Sourced: report failure to the caller without killing its shell
    # (a caller running with `set -e` still stops here).
    _deps_main
else
    set -euo pipefail
    _deps_main || exit 1
fi
