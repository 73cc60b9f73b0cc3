#!/usr/bin/env bash
# Demo: an RTSP server with an ONVIF audio back channel. Whatever an ONVIF
# client sends on the back channel is played on the sound card, or written to
# backchannel.wav when this machine has no sound device.
#
# ONVIF clients (ONVIF Device Manager, Home Assistant, a VMS) find it by
# WS-Discovery, or at the device service URL it prints.
#
#   PORT=8554 HTTP_PORT=8080 scripts/demo.sh   (both optional; these are the defaults)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

source scripts/deps.sh
source scripts/demo-wav.sh

PORT=${PORT:-8554}
HTTP_PORT=${HTTP_PORT:-8080}
MOUNT=/stream

echo "==> cargo build --release"
cargo build --release

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
export GST_PLUGIN_PATH=$TARGET_DIR/release
export GST_REGISTRY=$TARGET_DIR/gst-registry.bin

if ! gst-inspect-1.0 onvifbackchannelsrc >/dev/null 2>&1; then
    echo "demo.sh: element onvifbackchannelsrc not found in $GST_PLUGIN_PATH" >&2
    exit 1
fi

have_sound=1
if [[ ! -r /proc/asound/cards ]] || grep -qi 'no soundcards' /proc/asound/cards; then
    have_sound=0
elif command -v aplay >/dev/null 2>&1 && ! aplay -l >/dev/null 2>&1; then
    have_sound=0
fi

# The address other machines reach this one at (no packet is sent).
HOST=$(hostname -I 2>/dev/null | awk '{print $1}')
HOST=${HOST:-127.0.0.1}
echo "Serving rtsp://$HOST:$PORT$MOUNT with the ONVIF back channel"
echo "ONVIF device service: http://$HOST:$HTTP_PORT/onvif/device_service (WS-Discovery on)"
echo "Push-to-talk page: http://localhost:$HTTP_PORT/ in a browser on this machine (browsers give a page the microphone only on https or localhost)"
if ((have_sound)); then
    echo "Back-channel audio plays on the default sound device. Ctrl-C to stop."
    exec gst-launch-1.0 onvifbackchannelsrc port="$PORT" mount-point="$MOUNT" \
        http-port="$HTTP_PORT" ! audioconvert ! audioresample ! autoaudiosink
else
    echo "No sound device found: back-channel audio goes to $ROOT/backchannel.wav, 16-bit PCM mono 48 kHz (Ctrl-C to stop and finalise it)."
    # DEMO_WAV_TAIL (scripts/demo-wav.sh): 16-bit PCM, mono, 48 kHz.
    # shellcheck disable=SC2086  # a pipeline description, split on purpose
    exec gst-launch-1.0 -e onvifbackchannelsrc port="$PORT" mount-point="$MOUNT" \
        http-port="$HTTP_PORT" ! $DEMO_WAV_TAIL ! filesink location=backchannel.wav
fi
