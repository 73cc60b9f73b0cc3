# What scripts/demo.sh records to backchannel.wav when the machine has no
# sound card; sourced by demo.sh and by demo-check.sh, which checks that file.
#
# 16-bit PCM (S16LE), mono, 48 kHz: a WAV that every tool reads. Without the
# caps, wavenc writes what the element outputs, 32-bit float (WAV format 3),
# which Python's wave module and some players refuse.
# shellcheck disable=SC2034  # used by the scripts that source this file
DEMO_WAV_TAIL="audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! wavenc"
