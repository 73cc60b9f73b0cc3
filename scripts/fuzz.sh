#!/usr/bin/env bash
# Short fuzz run of every cargo-fuzz target in fuzz/ (the pure modules: RTP
# checks, codec table, SDP folding, the back channel's Transport rules, the
# SOAP request reader of the ONVIF services).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]    (default 20)
#
# Installs cargo-fuzz if it is missing, builds all targets, runs each one for
# SECONDS_PER_TARGET seconds starting from fuzz/seeds/<target> and the corpus
# grown by earlier runs (fuzz/corpus/<target>), and prints per target the
# number of executions and whether it crashed. Exits non-zero on any crash
# (the input is left in fuzz/artifacts/<target>/).
#
# cargo-fuzz wants a nightly toolchain: a rustup `nightly` is used when there
# is one, otherwise stable with RUSTC_BOOTSTRAP=1 (for the few -Z flags
# cargo-fuzz passes). Override with FUZZ_TOOLCHAIN=stable|nightly.
#
# No sanitizer by default: the fuzzed modules have no unsafe code, so
# AddressSanitizer finds nothing more there (panics, overflow checks and
# debug assertions work without it), while it makes every run 5-10 times
# slower. FUZZ_SANITIZER=address turns it on (nightly only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET=${1:-20}
if ! [[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
TARGETS=(rtp_check codec_list sdp_fold transport direct soap discovery whip_offer sink_plan)

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked --quiet
fi

has_toolchain() { cargo "+$1" --version >/dev/null 2>&1; }

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if has_toolchain nightly; then toolchain=nightly; else toolchain=stable; fi
fi
cargo_tc=(cargo)
if has_toolchain "$toolchain"; then
    cargo_tc=(cargo "+$toolchain")
elif [[ -n ${FUZZ_TOOLCHAIN:-} ]]; then
    echo "fuzz.sh: toolchain '$toolchain' not available" >&2
    exit 2
fi
if ! "${cargo_tc[@]}" --version | grep -q nightly; then
    # cargo-fuzz passes a few -Z flags; let a stable compiler take them.
    export RUSTC_BOOTSTRAP=1
fi
sanitizer=${FUZZ_SANITIZER:-none}
fuzz=("${cargo_tc[@]}" fuzz)
echo "==> fuzzing with $("${cargo_tc[@]}" --version), sanitizer $sanitizer, ${SECONDS_PER_TARGET}s per target"

"${fuzz[@]}" build --sanitizer "$sanitizer"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
crashes=0
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    args=(
        -max_total_time="$SECONDS_PER_TARGET"
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
        -artifact_prefix="fuzz/artifacts/$t/"
    )
    [[ -f fuzz/dicts/$t.dict ]] && args+=(-dict="fuzz/dicts/$t.dict")
    corpora=("fuzz/corpus/$t")
    [[ -d fuzz/seeds/$t ]] && corpora+=("fuzz/seeds/$t")

    rc=0
    "${fuzz[@]}" run --sanitizer "$sanitizer" "$t" "${corpora[@]}" -- "${args[@]}" \
        >"$logs/$t.log" 2>&1 || rc=$?
    execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$logs/$t.log" | tail -n1)
    [[ -n $execs ]] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$logs/$t.log" | tail -n1)
    [[ -n $execs ]] || execs="?"
    if ((rc == 0)); then
        result="no crash"
    else
        crashes=$((crashes + 1))
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$t.log" | tail -n1)
        result="CRASH (exit $rc${artifact:+, input $artifact})"
        {
            echo "---- $t: what failed"
            grep -E -A4 'panicked at|==[0-9]+==ERROR|^SUMMARY' "$logs/$t.log" | head -n 30 || true
            echo "---- $t: end of the fuzzer output"
            grep -v -E '^#[0-9]+' "$logs/$t.log" | tail -n 25
        } >&2
    fi
    line=$(printf '%-12s %12s execs  %s' "$t" "$execs" "$result")
    echo "$line"
    summary+=("$line")
done

echo "==> fuzz summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
if ((crashes)); then
    echo "fuzz.sh: $crashes target(s) crashed" >&2
    exit 1
fi
echo "fuzz.sh: OK"
