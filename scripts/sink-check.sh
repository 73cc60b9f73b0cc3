#!/usr/bin/env bash
# The README's onvifbackchannelsink commands, end to end with gst-launch-1.0:
# onvifbackchannelsrc serves on a free port and writes what it hears to a
# WAV; a WAV file of 2 s of 440 Hz goes through `filesrc ! decodebin !
# onvifbackchannelsink` (EOS, then TEARDOWN), then a live source through it
# over TCP; each time the server's WAV must hold about 2 s of 440 Hz.
#   usage: scripts/sink-check.sh PLUGIN_DIR
set -euo pipefail
plugin_dir=$1
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/demo-wav.sh"
export GST_PLUGIN_PATH=$plugin_dir

# The file to play: 2 s of 440 Hz, 44.1 kHz stereo (the sink converts).
gst-launch-1.0 -q audiotestsrc num-buffers=20 samplesperbuffer=4410 freq=440 volume=0.5 \
    ! audio/x-raw,rate=44100,channels=2 ! wavenc ! filesink location="$work/doorbell.wav"

serve() {
    : >"$work/server.log"
    # shellcheck disable=SC2086  # DEMO_WAV_TAIL is a pipeline description
    gst-launch-1.0 -e -v onvifbackchannelsrc address=127.0.0.1 port=0 \
        ! $DEMO_WAV_TAIL ! filesink location="$work/$1.wav" >"$work/server.log" 2>&1 &
    server_pid=$!
    port=$(timeout 20 tail -n +1 -f "$work/server.log" \
        | sed -un 's/.*bound-port = \([1-9][0-9]*\).*/\1/p' | head -n 1) || true
    [[ -n $port ]] || { echo "server did not report its port"; cat "$work/server.log"; exit 1; }
}

stop_and_check() {
    stop_recorder "$server_pid" "$work/server.log"
    server_pid=
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/check_tone.py" "$work/$1.wav" \
        --freq 440 --tolerance 15 --min-seconds 1.8 --max-seconds 2.3 --label "$1"
}

serve file
timeout 30 gst-launch-1.0 filesrc location="$work/doorbell.wav" ! decodebin \
    ! onvifbackchannelsink location="rtsp://127.0.0.1:$port/stream"
stop_and_check file

serve live
timeout 30 gst-launch-1.0 audiotestsrc is-live=true num-buffers=100 samplesperbuffer=960 freq=440 \
    ! audio/x-raw,rate=48000 ! onvifbackchannelsink transport=tcp location="rtsp://127.0.0.1:$port/stream"
stop_and_check live
