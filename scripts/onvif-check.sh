#!/usr/bin/env bash
# ONVIF clients no one here wrote against onvifbackchannelsrc: wsdiscovery and
# onvif-zeep-async (Home Assistant's) from PyPI, go2rtc's and Scrypted's call
# sequences, bad credentials and bad input, and examples/talk into the stream
# URI the clients got (440 Hz must come out). The element and the clients run
# in two network namespaces joined by a veth pair, so WS-Discovery multicast
# stays between them (tests/onvif/test_clients.py says what each flow checks).
#   usage: scripts/onvif-check.sh PLUGIN_DIR TARGET_DIR [--only FLOWS]
# Needs root (ip netns), Debian's python3 with python3-venv, and PyPI once
# (scripts/onvif-venv.sh caches the clients).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
plugin_dir=$(realpath "$1")
target_dir=$(realpath "$2")
shift 2
talk=$target_dir/release/examples/talk
[[ -x $talk ]] || { echo "$talk is not built (cargo build --release --examples)"; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "onvif-check.sh: needs root (network namespaces)"; exit 1; }
py=$(bash scripts/onvif-venv.sh)
export PYTHONDONTWRITEBYTECODE=1
exec timeout -k 5 170 "$py" tests/onvif/test_clients.py --plugin-dir "$plugin_dir" --talk "$talk" "$@"
