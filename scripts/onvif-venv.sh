#!/usr/bin/env bash
# Makes (once) and prints the Python of a virtual environment holding the ONVIF
# clients of tests/onvif/requirements.txt, exactly as pinned there:
# onvif-zeep-async (Home Assistant's ONVIF library) and wsdiscovery, with
# every dependency.
#
#   py=$(bash scripts/onvif-venv.sh)    # prints e.g. /var/cache/.../bin/python
#
# Cached in $ONVIF_VENV_CACHE (default /var/cache/onvifbackchannel-ci, or
# target/ of this checkout when that is not writable), in a directory named
# after the Python version and a hash of the requirements, so a change of
# either makes a new one and an unchanged one is reused at once. Idempotent
# and safe to run concurrently (flock); quiet: prints only the path, and the
# pip log on failure. Needs Debian's python3 with its venv module
# (python3-venv, from scripts/deps.sh) and PyPI.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
req=$root/tests/onvif/requirements.txt
# Debian's Python (PyGObject and the GStreamer bindings live there too); the
# venv is isolated from its packages anyway.
python=${ONVIF_PYTHON:-/usr/bin/python3}
[[ -x $python ]] || python=$(command -v python3)

cache=${ONVIF_VENV_CACHE:-/var/cache/onvifbackchannel-ci}
if ! { mkdir -p "$cache" && [[ -w $cache ]]; } 2>/dev/null; then
    cache=${CARGO_TARGET_DIR:-$root/target}
    mkdir -p "$cache"
fi

# Build tools pinned too: WSDiscovery is published only as a source archive.
build_pins=(setuptools==84.2.1 wheel==0.48.0)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$({ cat "$req"; printf '%s\n' "${build_pins[@]}" "$("$python" -c 'import sys; print(sys.version)')"; } |
    sha256sum | cut -c1-12)
venv=$cache/onvif-venv-py$pyver-$key

if [[ ! -f $venv/.ready ]]; then
    exec 8>"$venv.lock"
    flock -w 600 8 || { echo "onvif-venv.sh: $venv.lock still held after 10 min" >&2; exit 1; }
    if [[ ! -f $venv/.ready ]]; then
        rm -rf "$venv"
        log=$(mktemp)
        trap 'rm -f "$log"' EXIT
        export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR=$cache/pip-cache
        if ! {
            "$python" -m venv "$venv" &&
                "$venv/bin/python" -m pip install -q "${build_pins[@]}" &&
                "$venv/bin/python" -m pip install -q --no-build-isolation -r "$req" &&
                "$venv/bin/python" -c 'import onvif, wsdiscovery.discovery, zeep, aiohttp'
        } >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            echo "onvif-venv.sh: could not make the venv $venv (python3-venv installed? PyPI reachable?)" >&2
            rm -rf "$venv"
            exit 1
        fi
        # Venvs of other pins are left alone: another checkout may use them.
        touch "$venv/.ready"
    fi
fi
echo "$venv/bin/python"
