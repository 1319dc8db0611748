#!/usr/bin/env python3
"""Times our trainer against the tutorial's graph in TensorFlow and PyTorch, in one run.

Runs, alternately and `--rounds` times: ours with plain output, the TensorFlow reference
(bench/reference/tf1_autoencoder.py), the PyTorch version (bench/reference/torch_autoencoder.py,
with --torch-python) and ours with Burn's dashboard (under a pseudo-terminal made by `script`),
each for `--epochs` epochs of the tutorial's settings on real MNIST. Ours chooses its kernels as
a user's first run on this machine does (`backend.kernels = "auto"`, timed once, with a cache of
the benchmark's own). Right after our plain run, from the gemm_floor example, the floors: the
matrix products of an epoch (the five of each training step, and the two forward products of
each validation batch, which every timed epoch runs) through the fastest kernel of each (the
best-candidate floor, the limit of this design on this machine) and through the reference
plan's kernels; the ratio to the training steps' products alone is printed too; our epoch
is set against the floor of its own round (the median of those ratios is the one judged), so
that a shared machine's slow spells touch both sides alike. Then one epoch of ours at hidden 64
and batch 50 for the fixed cost per step.

Prints the processor and its instruction sets, the plan chosen, the median seconds per epoch
(training and validation) of each run, the ratios, our data-reading time (and the move onto
huge pages after it), our process's peak resident memory, and each target of the speed issue
met or not. With --scale, also one epoch of ours and TensorFlow for hidden sizes 64, 256, 1024
and batch sizes 50, 100, 500. With `--simd avx2`, ours and the floors keep to AVX2 (the path
of a processor without AVX-512).

With `--kinds simple,deep,...` it times the Keras tutorial's autoencoders instead: for each, ours
(the config/keras-*.toml of each) and Keras (bench/reference/keras_autoencoders.py) alternately, `--epochs`
epochs each (`--limit N`: on the first N training images only), and prints the seconds per epoch
(the first epoch left out when there are more), the ratio and each one's test MSE.

    cargo build --release && cargo build --release --example gemm_floor
    python3 bench/compare.py --data ../shared/data/mnist --tf-python /tmp/tf/bin/python3 \\
        --torch-python /tmp/torch/bin/python3 --rounds 3 --scale
    python3 bench/compare.py --data ../shared/data/mnist --tf-python /tmp/tf/bin/python3 \\
        --kinds simple,sparse,deep,vae --epochs 3 --rounds 2

A benchmark, not a test: it prints figures and asserts nothing.
"""
import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def peak_rss_mb(cmd, env=None):
    """Runs `cmd` under GNU time; returns (its stdout, its stderr, its peak RSS in MB)."""
    done = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB=%M"] + cmd,
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"error: {shlex.join(cmd)[:120]} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    match = re.search(r"PEAK_RSS_KB=(\d+)", done.stderr)
    return done.stdout, done.stderr, int(match.group(1)) / 1024 if match else float("nan")


def epoch_seconds(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [float(line.split(",")[3]) for line in f.read().splitlines()[1:]]


def our_environment(args, tmp):
    """Our runs' environment: a kernel-plan cache of the benchmark's own, and the --simd cap."""
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"))
    if args.simd:
        env["MNIST_AUTOENCODER_SIMD"] = args.simd
    return env


def plan_of(run_dir):
    with open(os.path.join(run_dir, "config.toml")) as f:
        match = re.search(r'^kernels = "(.*)"', f.read(), re.M)
    return match.group(1) if match else "?"


def ours(args, tmp, name, epochs, tui=False, hidden=256, batch=100):
    run_dir = os.path.join(tmp, name)
    cmd = [args.bin, "train", "--set", f"data.dir={os.path.abspath(args.data)}",
           "--set", "data.download=false", "--set", f"training.epochs={epochs}",
           "--set", f"model.hidden_size={hidden}", "--set", f"training.batch_size={batch}",
           "--set", f"output.dir={run_dir}",
           "--set", f"output.dashboard={'tui' if tui else 'plain'}"]
    if tui:
        # `script` gives the dashboard a terminal; its output (the drawing) is thrown away.
        cmd = ["script", "-qfec", shlex.join(cmd), "/dev/null"]
    out, err, rss = peak_rss_mb(cmd, our_environment(args, tmp))
    read = re.search(r"data read in ([0-9.]+) s", out)
    # The one-off move of the training images onto huge pages, after the read (Linux).
    huge = re.search(r"onto huge pages in ([0-9.]+) s", out)
    args.plans.setdefault((hidden, batch), set()).add(plan_of(run_dir))
    loaded = (float(read.group(1)) if read else float("nan"), float(huge.group(1)) if huge else 0.0)
    return epoch_seconds(run_dir), rss, loaded


def tensorflow(args, tmp, name, epochs, hidden=256, batch=100):
    out_json = os.path.join(tmp, name + ".json")
    cmd = [args.tf_python, os.path.join(HERE, "reference", "tf1_autoencoder.py"),
           "--data", args.data, "--epochs", str(epochs), "--hidden", str(hidden),
           "--batch-size", str(batch), "--out", out_json]
    peak_rss_mb(cmd)
    with open(out_json) as f:
        result = json.load(f)
    return [e["seconds"] for e in result["epochs"]], result.get("load_seconds", float("nan"))


def pytorch(args, tmp, name, epochs):
    out_json = os.path.join(tmp, name + ".json")
    cmd = [args.torch_python, os.path.join(HERE, "reference", "torch_autoencoder.py"),
           "--data", args.data, "--epochs", str(epochs), "--out", out_json]
    peak_rss_mb(cmd)
    with open(out_json) as f:
        result = json.load(f)
    return [e["seconds"] for e in result["epochs"]]


def gemm_floor(args):
    """Seconds per epoch of the five products: the fastest kernel of each, the reference plan's."""
    cmd = [args.floor_bin, "--data", args.data] + (["--simd", args.simd] if args.simd else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    best = re.search(r"best-candidate floor ([0-9.]+) s \(([0-9.]+) the", out)
    reference = float(re.search(r"reference floor ([0-9.]+) s", out).group(1))
    table = out[out.index("| product"):out.index("\nfastest plan")]
    return float(best.group(1)), float(best.group(2)), reference, table


def cpu_features():
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(re.search(r"^flags\s*:\s*(.+)$", f.read(), re.M).group(1).split())
    except (OSError, AttributeError):
        return "instruction sets unknown"
    return ", ".join(f"{name} {'yes' if name in flags else 'NO'}" for name in ("avx512f", "avx2", "fma"))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.+)", f.read()).group(1).strip()
    except (OSError, AttributeError):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def machine_line(args):
    """The processor, its instruction sets, and the cap put on ours (--simd), if any."""
    return (f"{cpu_name()}; {cpu_features()}"
            + (f"; our kernels kept to {args.simd}" if args.simd else ""))


KINDS = ("simple", "sparse", "deep", "conv", "denoising", "vae")


def keras_kind(args, tmp, kind, name):
    """Seconds per epoch and test MSE of Keras's model of `kind`."""
    out_json = os.path.join(tmp, name + ".json")
    cmd = [args.tf_python, os.path.join(HERE, "reference", "keras_autoencoders.py"),
           "--data", args.data, "--kind", kind, "--epochs", str(args.epochs),
           "--limit", str(args.limit), "--out", out_json]
    peak_rss_mb(cmd)
    with open(out_json) as f:
        result = json.load(f)
    return [e["seconds"] for e in result["epochs"]], result["test_mse"]


def our_kind(args, tmp, kind, name):
    """Seconds per epoch and test MSE of ours, the kind's config/keras-*.toml."""
    run_dir = os.path.join(tmp, name)
    cmd = [args.bin, "train", "--config", os.path.join(ROOT, "config", f"keras-{kind}.toml"),
           "--set", f"data.dir={os.path.abspath(args.data)}", "--set", "data.download=false",
           "--set", f"training.epochs={args.epochs}", "--set", f"data.train_limit={args.limit}",
           "--set", f"output.dir={run_dir}", "--set", "output.dashboard=plain"]
    out, _, _ = peak_rss_mb(cmd, our_environment(args, tmp))
    return epoch_seconds(run_dir), float(re.search(r"Test MSE = ([0-9.]+)", out).group(1))


def compare_kinds(args):
    """Ours against Keras for each of `args.kinds`: seconds per epoch and test MSE."""
    kinds = args.kinds.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        sys.exit(f"error: --kinds {','.join(unknown)}: pick from {','.join(KINDS)}")
    rows = {k: ([], [], [], []) for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for kind in kinds:
                print(f"round {r + 1}/{args.rounds}: {kind}", file=sys.stderr, flush=True)
                ours_s, ours_mse, keras_s, keras_mse = rows[kind]
                seconds, mse = our_kind(args, tmp, kind, f"ours-{kind}-{r}")
                ours_s += seconds[1:] or seconds
                ours_mse.append(mse)
                seconds, mse = keras_kind(args, tmp, kind, f"keras-{kind}-{r}")
                keras_s += seconds[1:] or seconds
                keras_mse.append(mse)
    med = statistics.median
    images = f"{args.limit:,}" if args.limit else "55,000"
    print(f"\n{machine_line(args)}")
    print(f"{args.rounds} rounds x {args.epochs} epochs of {images} training images (and 5,000 "
          "validating); seconds per epoch, median (epoch 1 left out when there are more):\n")
    print("| kind | ours s/epoch | Keras s/epoch | speed vs Keras | ours test MSE | Keras test MSE |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, (ours_s, ours_mse, keras_s, keras_mse) in rows.items():
        print(f"| {kind} | {med(ours_s):.2f} | {med(keras_s):.2f} | {med(keras_s) / med(ours_s):.2f}x "
              f"| {med(ours_mse):.6f} | {med(keras_mse):.6f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--tf-python", required=True, help="a Python with tensorflow-cpu")
    parser.add_argument("--torch-python", help="a Python with torch (without it, no PyTorch row)")
    parser.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mnist-autoencoder"),
        help="our release binary (default: the cargo target folder's)")
    parser.add_argument("--floor-bin", default=None,
        help="the gemm_floor example (default: beside --bin, in examples/); without it, no floor row")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--scale", action="store_true", help="also time hidden and batch sizes")
    parser.add_argument("--simd", choices=["avx2", "baseline"],
                        help="keep our kernels to these instructions (a processor without AVX-512)")
    parser.add_argument("--kinds", help=f"time the Keras tutorial's kinds instead: some of {','.join(KINDS)}")
    parser.add_argument("--limit", type=int, default=0, help="with --kinds: train on the first N images")
    args = parser.parse_args()
    args.plans = {}
    if not os.path.isfile(args.bin):
        sys.exit(f"error: no binary at {args.bin}; run `cargo build --release` or pass --bin")
    if args.kinds:
        compare_kinds(args)
        return
    if args.floor_bin is None:
        args.floor_bin = os.path.join(os.path.dirname(args.bin), "examples", "gemm_floor")
    if not os.path.isfile(args.floor_bin):
        print(f"note: no {args.floor_bin} (cargo build --release --example gemm_floor): "
              "no GEMM floor row", file=sys.stderr)
        args.floor_bin = None

    plain, tui, tf, torch, rss, read, huge, tf_read, floor, small = [], [], [], [], [], [], [], [], [], []
    reference_floor, over_floor, over_training, table = [], [], [], ""
    runs = {"ours, plain output": [], "TensorFlow": [], "PyTorch": [], "ours, dashboard": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
            seconds, peak, loaded = ours(args, tmp, f"plain-{r}", args.epochs)
            plain += seconds
            runs["ours, plain output"].append(seconds)
            rss.append(peak)
            read.append(loaded[0])
            huge.append(loaded[1])
            if args.floor_bin:
                # Right after the run it is set against, so that a shared machine's slow
                # spells touch both alike.
                best, training, reference, table = gemm_floor(args)
                floor.append(best)
                reference_floor.append(reference)
                over_floor.append(statistics.median(seconds) / best)
                over_training.append(statistics.median(seconds) / training)
            seconds, loaded = tensorflow(args, tmp, f"tf-{r}", args.epochs)
            tf += seconds
            runs["TensorFlow"].append(seconds)
            tf_read.append(loaded)
            if args.torch_python:
                seconds = pytorch(args, tmp, f"torch-{r}", args.epochs)
                torch += seconds
                runs["PyTorch"].append(seconds)
            seconds, peak, _ = ours(args, tmp, f"tui-{r}", args.epochs, tui=True)
            tui += seconds
            runs["ours, dashboard"].append(seconds)
            rss.append(peak)
            seconds, _, _ = ours(args, tmp, f"small-{r}", 1, hidden=64, batch=50)
            small += seconds

        med = statistics.median
        print(f"\n{machine_line(args)}")
        for (hidden, batch), plans in sorted(args.plans.items()):
            print(f"kernels chosen (backend.kernels = auto) at hidden {hidden}, batch {batch}: "
                  + "; ".join(sorted(plans)))
        print(f"{args.rounds} rounds x {args.epochs} epochs each; seconds per epoch "
              "(55,000 training + 5,000 validation images), median:\n")
        print("| run | s/epoch | speed vs TensorFlow (its s/epoch / this one's) |")
        print("|---|---:|---:|")
        print(f"| ours, plain output | {med(plain):.2f} | {med(tf) / med(plain):.2f}x |")
        print(f"| ours, Burn's dashboard | {med(tui):.2f} | {med(tf) / med(tui):.2f}x |")
        print(f"| TensorFlow 1 graph (reference) | {med(tf):.2f} | 1.00x |")
        if torch:
            print(f"| PyTorch | {med(torch):.2f} | {med(tf) / med(torch):.2f}x |")
        if floor:
            print(f"| best-candidate floor: an epoch's products (5 a training step, 2 a validation "
                  f"batch), the fastest kernel of each (examples/gemm_floor.rs) | {med(floor):.2f} "
                  f"| {med(tf) / med(floor):.2f}x |")
            print(f"| reference floor: the same through the reference plan's kernels "
                  f"| {med(reference_floor):.2f} | {med(tf) / med(reference_floor):.2f}x |")
            print("\nour epoch over the floor timed just after it, each round: "
                  + ", ".join(f"{ratio:.2f}x" for ratio in over_floor)
                  + "; over the training steps' products alone: "
                  + ", ".join(f"{ratio:.2f}x" for ratio in over_training))
            print(f"\nper product and kernel (last round), s/epoch:\n\n{table}")
        print(f"\ndashboard vs plain: {100 * (med(tui) / med(plain) - 1):+.1f}%")
        # Each run's epochs, in the order they ran: a slow spell of a shared machine shows as
        # a run of slow epochs across the rows of a round, not as one runner's fault.
        print("seconds per epoch, each run of each round:\n")
        print("| round | " + " | ".join(name for name, each in runs.items() if each) + " |")
        print("|---:|" + "---|" * sum(1 for each in runs.values() if each))
        for r in range(args.rounds):
            print(f"| {r + 1} | " + " | ".join(" ".join(f"{s:.2f}" for s in each[r])
                                                for each in runs.values() if each) + " |")
        steps = 55000 // 50
        print(f"fixed cost per step: hidden 64, batch 50: {1000 * med(small) / steps:.2f} ms per step "
              f"(epoch {med(small):.2f} s / {steps} steps)")
        print(f"ours: data read in {med(read):.2f} s (TensorFlow script: {med(tf_read):.2f} s), "
              f"then onto huge pages in {med(huge):.2f} s (max {max(huge):.2f}); "
              f"peak RSS {max(rss):.0f} MB")

        targets = [
            ("plain >= 2.5x TensorFlow", med(tf) / med(plain), 2.5),
            ("dashboard >= 2.5x TensorFlow", med(tf) / med(tui), 2.5),
        ]
        if torch:
            targets += [("plain >= 2x PyTorch", med(torch) / med(plain), 2.0),
                        ("dashboard >= 2x PyTorch", med(torch) / med(tui), 2.0)]
        if floor:
            targets.append(("epoch within 1.3x of the best-candidate floor",
                            1.3 / med(over_floor), 1.0))
        targets += [("peak RSS <= 150 MB", 150 / max(rss), 1.0), ("data read <= 0.3 s", 0.3 / med(read), 1.0)]
        print("\n| target | measured | met |")
        print("|---|---:|:---:|")
        for name, value, need in targets:
            shown = {"peak RSS <= 150 MB": f"{max(rss):.0f} MB", "data read <= 0.3 s": f"{med(read):.2f} s",
                     "epoch within 1.3x of the best-candidate floor": f"{med(over_floor):.2f}x" if floor else ""}.get(name, f"{value:.2f}x")
            print(f"| {name} | {shown} | {'yes' if value >= need else 'NO'} |")

        if args.scale:
            print("\none epoch each, s/epoch (ours | TensorFlow):\n")
            print("| hidden \\ batch | 50 | 100 | 500 |")
            print("|---:|---:|---:|---:|")
            behind = []
            for hidden in (64, 256, 1024):
                cells = []
                for batch in (50, 100, 500):
                    name = f"scale-{hidden}-{batch}"
                    mine, _, _ = ours(args, tmp, name, 1, hidden=hidden, batch=batch)
                    theirs, _ = tensorflow(args, tmp, name, 1, hidden=hidden, batch=batch)
                    cells.append(f"{mine[0]:.2f} \\| {theirs[0]:.2f}")
                    if mine[0] >= theirs[0]:
                        behind.append(f"{hidden}/{batch}")
                print(f"| {hidden} | " + " | ".join(cells) + " |", flush=True)
            print(f"\nahead of TensorFlow in every cell: {'yes' if not behind else 'NO (' + ', '.join(behind) + ')'}")


if __name__ == "__main__":
    main()
