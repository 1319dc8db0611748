#!/usr/bin/env python3
"""Kill-and-resume soak: stops a training run at random moments, resumes it each time, and
compares the result with an uninterrupted run of the same seed.

Trains `--epochs` epochs on the first `--images` training images of real MNIST, once without a
stop and once stopped `--kills` times, resumed after each stop. The stops cycle through five
moments: a SIGKILL after a random delay (training), a SIGKILL as soon as, after a random delay,
the run is seen validating or writing a checkpoint, a SIGINT or SIGTERM while it reads its data
(in the first moments of the process, before its first line), and a SIGTERM the moment its last
epoch's row is written (while it writes its final files). Each stop is classed by what the run
was doing, read from its files at that moment: writing a checkpoint (a temporary file in
checkpoint/), validating (the epoch's valid/ batch log exists), training, data loading (no
banner printed yet), or finishing (every epoch has its row). A signal must end the process with
128 + its number and one line on stderr. Then every weight in `model.mpk` and the costs in
`metrics.csv` must equal the uninterrupted run's, bit for bit (the ndarray backend's promise),
and the final files must all be there. (The files themselves differ: Burn records each
parameter's random id, drawn anew by each process.)

    cargo build --release
    python3 bench/soak.py --data ../shared/data/mnist --kills 12

Prints the stops per phase and the verdict; exits 1 if the runs differ or a signal ended badly.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def train_args(args, run_dir):
    return [args.bin, "train",
            "--set", f"data.dir={os.path.abspath(args.data)}", "--set", "data.download=false",
            "--set", f"data.train_limit={args.images}", "--set", "data.validation_size=1000",
            "--set", f"training.epochs={args.epochs}", "--set", f"training.seed={args.seed}",
            "--set", f"output.dir={run_dir}", "--set", "output.dashboard=plain"]


def rows(run_dir):
    try:
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            return [line.split(",")[:3] for line in f.read().splitlines()[1:]]
    except FileNotFoundError:
        return []


def unpack(data, at=0):
    """One MessagePack value of `data` at `at`: (value, next offset). What Burn's records use."""
    kind = data[at]
    at += 1

    def take(n):
        return data[at:at + n], at + n

    def sized(width):
        return int.from_bytes(data[at:at + width], "big"), at + width

    if kind <= 0x7f:
        return kind, at
    if 0x80 <= kind <= 0x8f or kind in (0xde, 0xdf):
        count, at = (kind & 0x0f, at) if kind <= 0x8f else sized(2 if kind == 0xde else 4)
        items = {}
        for _ in range(count):
            key, at = unpack(data, at)
            items[key], at = unpack(data, at)
        return items, at
    if 0x90 <= kind <= 0x9f or kind in (0xdc, 0xdd):
        count, at = (kind & 0x0f, at) if kind <= 0x9f else sized(2 if kind == 0xdc else 4)
        items = []
        for _ in range(count):
            item, at = unpack(data, at)
            items.append(item)
        return items, at
    if 0xa0 <= kind <= 0xbf or kind in (0xd9, 0xda, 0xdb):
        length, at = (kind & 0x1f, at) if kind <= 0xbf else sized({0xd9: 1, 0xda: 2, 0xdb: 4}[kind])
        text, at = take(length)
        return text.decode(), at
    if kind in (0xc4, 0xc5, 0xc6):
        length, at = sized({0xc4: 1, 0xc5: 2, 0xc6: 4}[kind])
        return take(length)
    if kind in (0xcc, 0xcd, 0xce, 0xcf):
        return sized({0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[kind])
    if kind in (0xd0, 0xd1, 0xd2, 0xd3):
        width = {0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[kind]
        return int.from_bytes(data[at:at + width], "big", signed=True), at + width
    if kind in (0xca, 0xcb):
        return take(4 if kind == 0xca else 8)
    if kind >= 0xe0:
        return kind - 0x100, at
    if kind in (0xc0, 0xc2, 0xc3):
        return {0xc0: None, 0xc2: False, 0xc3: True}[kind], at
    sys.exit(f"error: unexpected MessagePack byte {kind:#x}")


def weights(run_dir):
    """The record in model.mpk without the parameters' ids."""
    with open(os.path.join(run_dir, "model.mpk"), "rb") as f:
        record, _ = unpack(f.read())

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "id"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(record)


FINAL_FILES = ["model.mpk", "loss.png", "reconstruction.png"]


def phase(run_dir, epochs, printed):
    """What the run is doing now, judged from its files and whether it printed its first line."""
    if not printed:
        return "data loading"
    if len(rows(run_dir)) >= epochs:
        return "finishing"
    checkpoint = os.path.join(run_dir, "checkpoint")
    if os.path.isdir(checkpoint) and any(n.endswith(".tmp") for n in os.listdir(checkpoint)):
        return "checkpoint write"
    epoch = len(rows(run_dir)) + 1
    if os.path.exists(os.path.join(run_dir, "valid", f"epoch-{epoch}", "Loss.log")):
        return "validation"
    return "training step"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mnist-autoencoder"))
    parser.add_argument("--kills", type=int, default=15, help="stops to land")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images", type=int, default=6000, help="training images")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rng", type=int, default=2026, help="seed of the kill times")
    args = parser.parse_args()
    if not os.path.isfile(args.bin):
        sys.exit(f"error: no binary at {args.bin}; run `cargo build --release` or pass --bin")
    rng = random.Random(args.rng)

    with tempfile.TemporaryDirectory() as tmp:
        whole = os.path.join(tmp, "whole")
        started = time.perf_counter()
        subprocess.run(train_args(args, whole), check=True, capture_output=True)
        duration = time.perf_counter() - started
        print(f"uninterrupted run: {duration:.1f} s", flush=True)

        broken = os.path.join(tmp, "broken")
        phases = {}
        kills = 0
        failures = []
        resume = [args.bin, "train", "--resume", broken, "--set", "output.dashboard=plain"]
        targets = ["training step", "validation", "checkpoint write", "data loading", "finishing"]
        while kills < args.kills:
            # A run stopped before it wrote its config.toml has nothing to resume: start it again.
            started = os.path.isfile(os.path.join(broken, "config.toml"))
            command = resume if started else train_args(args, broken)
            target = targets[kills % len(targets)]
            if target == "finishing" and not started:
                target = "training step"
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.set_blocking(child.stdout.fileno(), False)
            printed = False
            # SIGKILL while it trains, validates or writes a checkpoint, after a random wait (the
            # first in the first two thirds of a run, the others once that phase is seen); a
            # SIGINT or SIGTERM while it reads its data, and a SIGTERM the moment its last row
            # is written.
            deadline = time.perf_counter() + {
                "data loading": rng.uniform(0.0, 0.05),
                "finishing": 0.0,
            }.get(target, rng.uniform(0.05, duration * 2 / 3))
            while child.poll() is None:
                printed = printed or bool(child.stdout.read(1) or b"")
                now = time.perf_counter()
                if target == "data loading" and (now >= deadline or printed):
                    break
                if now >= deadline and target != "data loading" and (
                        target == "training step" or phase(broken, args.epochs, True) == target):
                    break
                if now >= deadline + duration:
                    break
                time.sleep(0.0005)
            if child.poll() is not None:
                child.communicate()
                if child.returncode != 0:
                    sys.exit(f"error: {' '.join(command[:3])} ... ended with {child.returncode}")
                # Finished before this stop: start over, keeping the stops landed.
                print(f"  the run finished after {kills} stops; starting it over", flush=True)
                subprocess.run(["rm", "-rf", broken], check=True)
                continue
            where = phase(broken, args.epochs, printed)
            sig = {"data loading": rng.choice([signal.SIGINT, signal.SIGTERM]),
                   "finishing": signal.SIGTERM}.get(target, signal.SIGKILL)
            child.send_signal(sig)
            _, err = child.communicate()
            kills += 1
            phases[where] = phases.get(where, 0) + 1
            name = signal.Signals(sig).name
            lines = err.decode(errors="replace").strip().splitlines()
            if sig != signal.SIGKILL:
                ok = child.returncode == 128 + sig and len(lines) == 1 and name in lines[0]
                if not ok:
                    failures.append(f"{name} during {where}: exit {child.returncode}, {lines}")
            print(f"  stop {kills}: {name} during {where}, {len(rows(broken))} epochs in metrics.csv"
                  + (f": {lines[-1]}" if lines and sig != signal.SIGKILL else ""), flush=True)
        done = subprocess.run(resume, capture_output=True, text=True)
        if done.returncode != 0 and "already finished" not in done.stderr:
            sys.exit(f"error: the last resume failed: {done.stderr.strip()}")

        same_model = weights(whole) == weights(broken)
        same_costs = rows(whole) == rows(broken)
        complete = all(os.path.isfile(os.path.join(broken, f)) for f in FINAL_FILES)
        print(f"\n{kills} stops: " + ", ".join(f"{n} during {p}" for p, n in sorted(phases.items())))
        for failure in failures:
            print(f"BAD STOP: {failure}")
        print(f"weights in model.mpk identical: {'yes' if same_model else 'NO'}; "
              f"metrics.csv costs identical: {'yes' if same_costs else 'NO'} "
              f"({len(rows(broken))} epochs); final files all there: {'yes' if complete else 'NO'}")
        sys.exit(0 if same_model and same_costs and complete and not failures else 1)


if __name__ == "__main__":
    main()
