#!/usr/bin/env bash
# The embedding examples, end to end: the C (examples/c/embed.c, built with
# meson), Python (examples/python/embed.py) and Rust (examples/embed.rs)
# applications each serve the factory on a free port and write what they hear
# to a raw file; examples/talk sends 2 s of 440 Hz through rtspsrc; the file
# must then hold at least 1.5 s of loud 440±10 Hz audio, and the application
# must have printed a "talk-event started" line.
#   usage: scripts/examples-check.sh PLUGIN_DIR TARGET_DIR
# TARGET_DIR/release/examples/{talk,embed} must be built
# (cargo build --release --examples). EMBED_C=path uses that C binary instead
# of building it with meson in a temporary directory. TALK_FREQ=HZ makes talk
# send another frequency (the check still wants 440 Hz: it must then fail).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
plugin_dir=$(realpath "$1")
target_dir=$(realpath "$2")
talk=$target_dir/release/examples/talk
talk_freq=${TALK_FREQ:-440}
work=$(mktemp -d)
app_pid=
cleanup() {
    [[ -n $app_pid ]] && kill -KILL "$app_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export GST_PLUGIN_PATH=$plugin_dir
export GST_REGISTRY=$work/registry.bin

embed_c=${EMBED_C:-}
if [[ -z $embed_c ]]; then
    if meson setup "$work/build" >"$work/meson.log" 2>&1 &&
        meson compile -C "$work/build" embed-c >>"$work/meson.log" 2>&1; then
        embed_c=$work/build/embed-c
    else
        tail -n 30 "$work/meson.log"
    fi
fi

# Reads the application's stdout (fd $out) into $log until a line matches
# $1 (a glob); fails on EOF or after $2 seconds.
read_until() {
    local pattern=$1 end=$((SECONDS + $2)) line
    while ((SECONDS < end)) && IFS= read -r -t $((end - SECONDS)) -u "$out" line; do
        printf '%s\n' "$line" >>"$log"
        # shellcheck disable=SC2053
        [[ $line == $pattern ]] && return 0
    done
    return 1
}

# Runs one application (the command in "$@") against talk; prints why it
# failed, if it did.
run_example() {
    local name=$1
    shift
    local raw=$work/$name.raw
    log=$work/$name.out
    : >"$log"
    mkfifo "$work/$name.fifo"
    "$@" "audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 \
        ! filesink location=$raw" >"$work/$name.fifo" 2>"$work/$name.err" &
    app_pid=$!
    exec {out}<"$work/$name.fifo"

    local port ok=1
    if read_until "listening on rtsp://127.0.0.1:*/stream" 20; then
        port=$(tail -n 1 "$log" | sed 's|.*:\([0-9]*\)/stream$|\1|')
        if ! timeout 30 "$talk" "rtsp://127.0.0.1:$port/stream" --seconds 2 --freq "$talk_freq" \
            >"$work/$name.talk" 2>&1; then
            echo "$name: talk failed:"
            sed 's/^/    /' "$work/$name.talk"
            ok=0
        fi
        # The talker stops being heard once it has left (or after 1 s of silence).
        read_until "talk-event stopped*" 10 || true
    else
        echo "$name: did not print 'listening on rtsp://127.0.0.1:PORT/stream' (it exited, or 20 s passed)"
        ok=0
    fi

    kill -INT "$app_pid" 2>/dev/null
    # Drain its stdout until it exits; it must exit by itself.
    if read_until "stopped" 10; then
        cat <&"$out" >>"$log"
    elif kill -0 "$app_pid" 2>/dev/null; then
        echo "$name: did not stop within 10 s of SIGINT"
        kill -KILL "$app_pid" 2>/dev/null
        ok=0
    fi
    wait "$app_pid"
    local rc=$?
    app_pid=
    exec {out}<&-
    if ((rc != 0)); then
        echo "$name: exited with status $rc"
        ok=0
    fi

    if ! grep -q '^talk-event started' "$log"; then
        echo "$name: printed no 'talk-event started' line"
        ok=0
    fi
    # The Python example also prints what an ONVIF server of the application
    # would advertise (the factory's stream-uri and onvif-audio-output).
    if [[ $name == python ]]; then
        grep -qx "onvif stream uri: rtsp://127.0.0.1:$port/stream" "$log" \
            || { echo "$name: no 'onvif stream uri: rtsp://127.0.0.1:$port/stream' line"; ok=0; }
        grep -q "^onvif media1 decoder options: .*<tt:G711DecOptions[ >]" "$log" \
            || { echo "$name: no G711DecOptions in its media1 decoder options"; ok=0; }
        grep -q '^onvif media2 decoder options: .*<tt:Encoding>PCMU</tt:Encoding>' "$log" \
            || { echo "$name: no PCMU encoding in its media2 decoder options"; ok=0; }
    fi
    if [[ ! -s $raw ]]; then
        echo "$name: wrote no audio to $raw"
        ok=0
    elif ! /usr/bin/python3 scripts/check_tone.py "$raw" --rate 16000 \
        --freq 440 --tolerance 10 --min-seconds 1.5 --label "$name"; then
        ok=0
    fi
    if ((!ok)); then
        echo "$name: its stdout and stderr:"
        sed 's/^/    /' "$log" "$work/$name.err" | tail -n 30
    fi
    ((ok))
}

[[ -x $talk ]] || { echo "$talk is not built (cargo build --release --examples)"; exit 1; }

failed=()
if [[ -z $embed_c ]]; then
    echo "c: meson could not build examples/c/embed.c"
    failed+=(c)
else
    run_example c "$embed_c" || failed+=(c)
fi
run_example python /usr/bin/python3 examples/python/embed.py || failed+=(python)
if [[ -x $target_dir/release/examples/embed ]]; then
    run_example rust "$target_dir/release/examples/embed" || failed+=(rust)
else
    echo "rust: $target_dir/release/examples/embed is not built (cargo build --release --examples)"
    failed+=(rust)
fi

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all three embedding examples passed"
