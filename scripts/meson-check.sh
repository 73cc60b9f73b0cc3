#!/usr/bin/env bash
# meson builds the plugin and installs it into a prefix; GStreamer finds it there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson setup "$tmp/build" --prefix="$tmp/prefix" >"$tmp/log" 2>&1 \
    && meson compile -C "$tmp/build" >>"$tmp/log" 2>&1 \
    && meson install -C "$tmp/build" >>"$tmp/log" 2>&1 \
    || { tail -n 30 "$tmp/log"; exit 1; }
plugin=$(find "$tmp/prefix" -name libgstonvifbackchannel.so -print -quit)
[[ -n $plugin ]] || { echo "nothing installed under $tmp/prefix"; exit 1; }
echo "installed $plugin"
# Read the whole output before matching: `gst-inspect-1.0 | grep -q` lets grep exit at
# the first match, and gst-inspect-1.0 then dies of SIGPIPE (exit 141 under pipefail).
out=$(GST_REGISTRY=$tmp/registry.bin GST_PLUGIN_PATH=$(dirname "$plugin") \
    gst-inspect-1.0 onvifbackchannel)
grep -q onvifbackchannelsrc <<<"$out" || { echo "$out"; exit 1; }
