#!/usr/bin/env bash
# The README's demo, end to end: onvifbackchannelsrc serves on a free port and
# writes what it hears to a WAV file, as scripts/demo.sh does without a sound
# card (the same DEMO_WAV_TAIL); examples/talk sends 2 s of 440 Hz through
# rtspsrc; the WAV must then be 16-bit PCM that Python's wave module reads,
# and hold about 2 s of loud 440 Hz audio.
#   usage: scripts/demo-check.sh PLUGIN_DIR TALK_BINARY
set -euo pipefail
plugin_dir=$1
talk=$2
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/demo-wav.sh"

# The log exists before the server starts: the tail below must find it.
: >"$work/server.log"
# shellcheck disable=SC2086  # DEMO_WAV_TAIL is a pipeline description
GST_PLUGIN_PATH=$plugin_dir gst-launch-1.0 -e -v \
    onvifbackchannelsrc address=127.0.0.1 port=0 \
    ! $DEMO_WAV_TAIL ! filesink location="$work/talk.wav" >"$work/server.log" 2>&1 &
server_pid=$!

# gst-launch -v prints the bound-port notification once the server listens.
port=$(timeout 20 tail -n +1 -f "$work/server.log" \
    | sed -un 's/.*bound-port = \([1-9][0-9]*\).*/\1/p' | head -n 1) || true
[[ -n $port ]] || { echo "server did not report its port"; cat "$work/server.log"; exit 1; }

timeout 30 "$talk" "rtsp://127.0.0.1:$port/stream" --seconds 2 --freq 440

# -e: EOS on SIGINT, so that wavenc writes its header.
stop_recorder "$server_pid" "$work/server.log"
server_pid=

# check_tone.py reads the WAV with Python's wave module, which takes only
# integer PCM: it fails on the 32-bit float WAV the demo used to write.
/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/check_tone.py" "$work/talk.wav" \
    --freq 440 --tolerance 15 --min-seconds 1.8 --max-seconds 2.3 --label demo
