# What scripts/demo.sh records to backchannel.wav when the machine has no
# sound card; sourced by demo.sh, and by demo-check.sh and sink-check.sh,
# which check that file (and stop the recording server with stop_recorder).
#
# 16-bit PCM (S16LE), mono, 48 kHz: a WAV that every tool reads. Without the
# caps, wavenc writes what the element outputs, 32-bit float (WAV format 3),
# which Python's wave module and some players refuse.
# shellcheck disable=SC2034  # used by the scripts that source this file
DEMO_WAV_TAIL="audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! wavenc"

# stop_recorder PID LOG: SIGINT to a `gst-launch-1.0 -e` recording server,
# which then sends EOS (wavenc writes its header) and stops; a server still
# running 20 s later is a failure (its last log lines are printed).
stop_recorder() {
    kill -INT "$1"
    if ! timeout 20 tail --pid="$1" -f /dev/null; then
        echo "the recording server did not exit within 20 s of SIGINT:"
        tail -n 20 "$2"
        kill -KILL "$1" 2>/dev/null || true
        return 1
    fi
    wait "$1" || true
}
