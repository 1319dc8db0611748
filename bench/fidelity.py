#!/usr/bin/env python3
"""Is the port faithful? Runs our trainer and the TensorFlow reference over several seeds and
prints, per epoch, the tutorial's cost, the reference's min-max, ours min-max and whether ours
falls inside the reference's seed-to-seed band.

    python3 bench/fidelity.py --data ../shared/data/mnist --python /path/to/tf-venv/bin/python3

"inside" means within the reference's [min, max] over its seeds; "inside+spread" means within
that band widened by its own width on each side (never more); "OUTSIDE" means neither.
With --modern CONFIG it also trains that config over the same seeds and reports its costs.
Our runs use `cargo run --release`; the reference needs `tensorflow-cpu` in --python.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TUTORIAL = [0.2053, 0.0570, 0.0470, 0.0422, 0.0395, 0.0382, 0.0367, 0.0359, 0.0351, 0.0329,
            0.0320, 0.0314, 0.0311, 0.0307, 0.0301, 0.0294, 0.0291, 0.0288, 0.0284, 0.0279]


def binary(args):
    """The command that runs our program: --bin, or cargo run."""
    return [args.bin] if args.bin else ["cargo", "run", "--release", "-q", "--"]


def ours(args, config, seed, out_dir):
    """Trains with `config` and `seed`; returns (per-epoch train costs, test MSE)."""
    run_dir = os.path.join(out_dir, f"ours-{os.path.basename(config).removesuffix('.toml')}-seed{seed}")
    if not os.path.isfile(os.path.join(run_dir, "metrics.csv")):
        cmd = binary(args) + ["train", "--config", config,
               "--set", f"data.dir={os.path.abspath(args.data)}", "--set", f"training.seed={seed}",
               "--set", f"training.epochs={args.epochs}", "--set", f"output.dir={run_dir}",
               "--set", "output.dashboard=plain"]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        sys.stderr.write(done.stdout)
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    evaluated = subprocess.run(
        binary(args) + ["evaluate", "--model", run_dir, "--worst", "0"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    mse = float(evaluated.split("Test MSE = ")[1].split()[0].rstrip(","))
    return [float(r[1]) for r in rows], mse, [float(r[3]) for r in rows]


def reference(args, seed, out_dir):
    """Runs the TF1 reference with `seed`; returns (per-epoch train costs, test MSE)."""
    out = os.path.join(out_dir, f"tf-seed{seed}.json")
    if not os.path.isfile(out):
        cmd = [args.python, os.path.join(HERE, "reference", "tf1_autoencoder.py"),
               "--data", args.data, "--seed", str(seed), "--epochs", str(args.epochs),
               "--out", out, "--figure", os.path.join(out_dir, f"tf-seed{seed}.png")]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    with open(out) as f:
        result = json.load(f)
    epochs = result["epochs"]
    return [e["train_cost"] for e in epochs], result["test_mse"], [e["seconds"] for e in epochs]


def verdict(lo, hi, ref_lo, ref_hi):
    if ref_lo <= lo and hi <= ref_hi:
        return "inside"
    spread = ref_hi - ref_lo
    if ref_lo - spread <= lo and hi <= ref_hi + spread:
        return "inside+spread"
    return "OUTSIDE"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--python", default="python3", help="a Python with tensorflow-cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--bin", help="our built binary (default: cargo run --release)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--config", default=os.path.join(ROOT, "config", "default.toml"))
    parser.add_argument("--modern", help="a second config to train and report beside")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "fidelity"),
                        help="folder for the runs (reused when present)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    mine = [ours(args, args.config, s, args.out) for s in args.seeds]
    ref = [reference(args, s, args.out) for s in args.seeds]
    modern = [ours(args, args.modern, s, args.out) for s in args.seeds] if args.modern else []

    header = "| epoch | tutorial | TF1 reference min–max | ours min–max | ours vs reference |"
    rule = "|---:|---:|---:|---:|:---|"
    if modern:
        header += " modern min–max |"
        rule += "---:|"
    print(f"\n{len(args.seeds)} seeds each ({', '.join(map(str, args.seeds))}); Avg.cost per epoch\n")
    print(header)
    print(rule)
    counts = {}
    for e in range(args.epochs):
        r = [costs[e] for costs, _, _ in ref]
        m = [costs[e] for costs, _, _ in mine]
        v = verdict(min(m), max(m), min(r), max(r))
        counts[v] = counts.get(v, 0) + 1
        tutorial = f"{TUTORIAL[e]:.4f}" if e < len(TUTORIAL) else ""
        line = (f"| {e + 1} | {tutorial} | {min(r):.4f}–{max(r):.4f} | {min(m):.4f}–{max(m):.4f} | {v} |")
        if modern:
            d = [costs[e] for costs, _, _ in modern]
            line += f" {min(d):.4f}–{max(d):.4f} |"
        print(line)
    r = [mse for _, mse, _ in ref]
    m = [mse for _, mse, _ in mine]
    line = f"| test MSE | | {min(r):.4f}–{max(r):.4f} | {min(m):.4f}–{max(m):.4f} | {verdict(min(m), max(m), min(r), max(r))} |"
    if modern:
        d = [mse for _, mse, _ in modern]
        line += f" {min(d):.4f}–{max(d):.4f} |"
    print(line)
    print("\nepochs per verdict: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    median = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"median seconds per epoch: ours {median([s for _, _, ss in mine for s in ss]):.2f}, "
          f"reference {median([s for _, _, ss in ref for s in ss]):.2f}")
    if modern:
        final = max(costs[-1] for costs, _, _ in modern)
        print(f"modern config: worst final cost over seeds {final:.4f} "
              f"({TUTORIAL[-1] / final:.1f}x below the tutorial's {TUTORIAL[-1]})")


if __name__ == "__main__":
    main()
