#!/usr/bin/env python3
"""Checks that recorded audio holds a loud tone: how long (10 ms windows whose
RMS is above --threshold) and at what frequency (zero crossings in runs of
those windows). Plain Python, no numpy.

    check_tone.py FILE [--rate HZ] --freq 440 [--tolerance 10]
                  [--min-seconds 1.5] [--max-seconds S] [--label NAME]

FILE is a 16-bit mono PCM WAV file, read with Python's wave module (which
refuses float WAVs), or raw S16LE mono at --rate Hz when it does not end in
.wav. Prints "NAME: N ms of loud audio at about F Hz" and exits 1
when the length or the frequency is out of range.
"""

import argparse
import array
import math
import sys
import wave


def read_samples(path, rate):
    if path.endswith(".wav"):
        # The standard library's reader: it takes integer PCM only (WAV
        # format 1), so a float WAV (format 3) fails here.
        try:
            with wave.open(path) as w:
                if w.getsampwidth() != 2 or w.getnchannels() != 1:
                    sys.exit(f"{path}: {8 * w.getsampwidth()}-bit, {w.getnchannels()} "
                             "channels; want 16-bit mono PCM")
                rate = w.getframerate()
                data = w.readframes(w.getnframes())
        except wave.Error as e:
            sys.exit(f"{path}: Python's wave module cannot read it ({e}); want 16-bit mono PCM")
    else:
        with open(path, "rb") as f:
            data = f.read()
        data = data[: len(data) // 2 * 2]
    samples = array.array("h", data)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples, rate


def zero_crossings(samples, deadband):
    """Indexes where the signal changes sign, ignoring samples within
    +-deadband of zero: the quiet edges of a run (low noise around zero)
    would add crossings that are not the tone's."""
    crossings = []
    sign = 0
    for k, s in enumerate(samples):
        if abs(s) <= deadband:
            continue
        new = 1 if s > 0 else -1
        if sign and new != sign:
            crossings.append(k)
        sign = new
    return crossings


def loud_tone(samples, rate, threshold):
    """Milliseconds of loud audio, and its frequency from the zero crossings
    inside each run of consecutive loud windows."""
    window = rate // 100
    deadband = threshold / 4
    loud = [i for i in range(0, len(samples) - window + 1, window)
            if math.sqrt(sum(s * s for s in samples[i:i + window]) / window) > threshold]
    half_periods = 0
    span = 0
    run_start = None
    for n, i in enumerate(loud):
        if run_start is None:
            run_start = i
        if n + 1 < len(loud) and loud[n + 1] == i + window:
            continue
        run = samples[run_start:i + window]
        crossings = zero_crossings(run, deadband)
        if len(crossings) > 1:
            half_periods += len(crossings) - 1
            span += crossings[-1] - crossings[0]
        run_start = None
    freq = half_periods / 2 / (span / rate) if span else 0.0
    return 10 * len(loud), freq


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--rate", type=int, default=16000, help="rate of a raw file")
    p.add_argument("--freq", type=float, required=True)
    p.add_argument("--tolerance", type=float, default=10.0, help="Hz")
    p.add_argument("--min-seconds", type=float, default=1.5)
    p.add_argument("--max-seconds", type=float, default=math.inf)
    p.add_argument("--threshold", type=float, default=1600.0, help="RMS of a loud window")
    p.add_argument("--label", default="tone")
    args = p.parse_args()

    samples, rate = read_samples(args.file, args.rate)
    loud_ms, freq = loud_tone(samples, rate, args.threshold)
    print(f"{args.label}: {loud_ms} ms of loud audio at about {freq:.1f} Hz "
          f"(want {args.freq:.0f}±{args.tolerance:.0f} Hz for at least {args.min_seconds} s)")
    ok = (args.min_seconds * 1000 <= loud_ms <= args.max_seconds * 1000
          and abs(freq - args.freq) <= args.tolerance)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
