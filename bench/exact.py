#!/usr/bin/env python3
"""Step by step against TensorFlow and PyTorch: the same initial weights, the same batches.

One N(0, 1) draw (numpy, --seed) is written as safetensors; our trainer starts from it
(`train --init-from`) and so does TensorFlow's TF1 graph (bench/reference/tf1_autoencoder.py
--init), both with shuffling off, so both see the training images in file order. Every step's
loss is compared. The same for our `config/modern.toml` (Burn's RMSProp: alpha 0.99, momentum 0.9)
against PyTorch's RMSprop with those settings, from one Xavier draw. Last, our trained model is
exported and loaded into PyTorch, whose test MSE must equal ours.

    python3 bench/exact.py --data ../shared/data/mnist \\
        --tf-python /path/to/tf-venv/bin/python3 --torch-python /path/to/torch-venv/bin/python3

Prints the checks (first 100 steps within 1e-4 relative, epoch 1's Avg.cost to 3 significant
digits, the exported model's test MSE within 1e-6), where the two runs' losses part (the first
step off by more than 1e-4, 1e-3, 1e-2), per-epoch costs, and draws the per-step relative
difference to docs/exact-tf1.png and docs/exact-torch.png (needs matplotlib; --no-plot skips).
Exits 1 if a check fails. Needs numpy and safetensors here; tensorflow-cpu and torch in the
interpreters given.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PIXELS = 784
FIRST_STEPS, STEP_TOLERANCE, MSE_TOLERANCE = 100, 1e-4, 1e-6


def draw_init(path, seed, hidden, kind):
    """Writes initial weights in PyTorch's layout: N(0, 1) everywhere (the tutorial's), or
    Xavier-uniform weights and zero biases."""
    rng = np.random.RandomState(seed)
    shapes = {"encoder.weight": (hidden, PIXELS), "encoder.bias": (hidden,),
              "decoder.weight": (PIXELS, hidden), "decoder.bias": (PIXELS,)}
    tensors = {}
    for name, shape in shapes.items():
        if kind == "normal":
            value = rng.standard_normal(shape)
        elif len(shape) == 2:
            limit = np.sqrt(6.0 / sum(shape))
            value = rng.uniform(-limit, limit, shape)
        else:
            value = np.zeros(shape)
        tensors[name] = value.astype(np.float32)
    save_file(tensors, path, metadata={"layout": "pytorch", "init": f"{kind}, numpy seed {seed}"})


def binary(args):
    return [args.bin] if args.bin else ["cargo", "run", "--release", "-q", "--"]


def run(cmd, **kwargs):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def ours(args, init, out_dir, config=None):
    """Trains from `init` in file order; returns (per-step losses, per-epoch Avg.cost)."""
    cmd = binary(args) + ["train", "--init-from", init]
    if config:
        cmd += ["--config", config]
    for flag in [f"data.dir={os.path.abspath(args.data)}", "data.download=false",
                 "data.shuffle=false", f"training.epochs={args.epochs}",
                 f"output.dir={out_dir}", "output.dashboard=plain"]:
        cmd += ["--set", flag]
    run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    steps = []
    for epoch in range(1, args.epochs + 1):
        with open(os.path.join(out_dir, "train", f"epoch-{epoch}", "Loss.log")) as f:
            steps += [float(line.split(",")[0]) for line in f if line.strip()]
    with open(os.path.join(out_dir, "metrics.csv")) as f:
        costs = [float(line.split(",")[1]) for line in f.read().splitlines()[1:]]
    return np.array(steps), costs


def reference(python, script, args, init, out_dir, name, extra=()):
    """Runs a reference script from `init` in file order; returns (per-step losses, costs)."""
    steps_file = os.path.join(out_dir, f"{name}-steps.json")
    result_file = os.path.join(out_dir, f"{name}.json")
    run([python, os.path.join(HERE, "reference", script), "--data", args.data,
         "--epochs", str(args.epochs), "--init", init, "--no-shuffle",
         "--steps-out", steps_file, "--out", result_file, *extra])
    with open(steps_file) as f:
        steps = np.array(json.load(f))
    with open(result_file) as f:
        costs = [row["train_cost"] for row in json.load(f)["epochs"]]
    return steps, costs


def compare(label, theirs_name, ours_steps, ours_costs, their_steps, their_costs, steps_per_epoch):
    """Prints the checks and where the runs part; returns (whether the checks hold, rel diff)."""
    if len(ours_steps) != len(their_steps):
        sys.exit(f"error: {len(ours_steps)} steps here, {len(their_steps)} in {theirs_name}")
    rel = np.abs(ours_steps - their_steps) / np.abs(their_steps)
    first = rel[:FIRST_STEPS].max()
    ok_steps = first <= STEP_TOLERANCE
    ok_epoch = f"{ours_costs[0]:.3g}" == f"{their_costs[0]:.3g}"
    print(f"\n## {label}: ours vs {theirs_name}, same weights, same batches\n")
    print(f"- first {FIRST_STEPS} steps: largest relative difference {first:.2e} "
          f"(within {STEP_TOLERANCE:g}: {'yes' if ok_steps else 'NO'})")
    print(f"- epoch 1 Avg.cost: ours {ours_costs[0]:.6f}, {theirs_name} {their_costs[0]:.6f} "
          f"(same to 3 significant digits: {'yes' if ok_epoch else 'NO'})")
    for bound in (1e-4, 1e-3, 1e-2, 1e-1):
        over = np.nonzero(rel > bound)[0]
        where = (f"step {over[0] + 1} (epoch {over[0] // steps_per_epoch + 1})" if len(over)
                 else f"never in {len(rel)} steps")
        print(f"- first step more than {bound:g} apart: {where}")
    print(f"\n| epoch | ours Avg.cost | {theirs_name} Avg.cost | relative difference |")
    print("|---:|---:|---:|---:|")
    for epoch, (a, b) in enumerate(zip(ours_costs, their_costs), 1):
        print(f"| {epoch} | {a:.6f} | {b:.6f} | {abs(a - b) / abs(b):.1e} |")
    return ok_steps and ok_epoch, rel


def plot(path, label, theirs_name, rel, steps_per_epoch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    steps = np.arange(1, len(rel) + 1)
    ax.semilogy(steps, np.maximum(rel, 1e-9), lw=0.6, color="tab:blue")
    ax.axhline(STEP_TOLERANCE, color="tab:red", lw=0.8, ls="--", label=f"{STEP_TOLERANCE:g}")
    ax.axvline(FIRST_STEPS, color="gray", lw=0.8, ls=":", label=f"step {FIRST_STEPS}")
    for epoch in range(1, len(rel) // steps_per_epoch):
        ax.axvline(epoch * steps_per_epoch, color="0.9", lw=0.5, zorder=0)
    ax.set_xlabel(f"training step ({steps_per_epoch} per epoch)")
    ax.set_ylabel("|ours - theirs| / theirs\n(equal losses drawn at 1e-9)")
    ax.set_title(f"{label}: per-step loss, ours vs {theirs_name}, same weights and batches")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nWrote {os.path.relpath(path, ROOT)}")


def exported_in_pytorch(args, run_dir):
    """Exports our run, loads the file in PyTorch; whether the test MSEs agree to 1e-6."""
    file = os.path.join(run_dir, "model.safetensors")
    run(binary(args) + ["export", "--model", run_dir, "--output", file,
                        "--data-dir", os.path.abspath(args.data)], cwd=ROOT, stdout=subprocess.DEVNULL)
    from safetensors import safe_open
    with safe_open(file, "np") as f:
        ours_mse = float(f.metadata()["test_mse"])
    printed = run([args.torch_python, os.path.join(HERE, "reference", "torch_autoencoder.py"),
                   "--data", args.data, "--evaluate", file], capture_output=True, text=True).stdout
    torch_mse = float(printed.split("Test MSE = ")[1].split()[0])
    ok = abs(ours_mse - torch_mse) <= MSE_TOLERANCE
    print(f"\n## Our trained model in PyTorch\n\n- test MSE: ours {ours_mse:.9f}, PyTorch "
          f"{torch_mse:.9f}, difference {abs(ours_mse - torch_mse):.1e} "
          f"(within {MSE_TOLERANCE:g}: {'yes' if ok else 'NO'})")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--tf-python", required=True, help="python with tensorflow-cpu")
    parser.add_argument("--torch-python", required=True, help="python with torch")
    parser.add_argument("--bin", help="our binary (default: cargo run --release)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="numpy seed of the initial weights")
    parser.add_argument("--work", default="/tmp/mnist-autoencoder-exact", help="scratch folder")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    for old in glob.glob(os.path.join(args.work, "ours-*")):
        subprocess.run(["rm", "-rf", old], check=True)
    steps_per_epoch = 55000 // 100
    checks = []

    init = os.path.join(args.work, "init-normal.safetensors")
    draw_init(init, args.seed, 256, "normal")
    ours_dir = os.path.join(args.work, "ours-tf1")
    mine = ours(args, init, ours_dir)
    theirs = reference(args.tf_python, "tf1_autoencoder.py", args, init, args.work, "tf1")
    ok, rel = compare("The tutorial (TF1 RMSProp)", "TensorFlow", *mine, *theirs, steps_per_epoch)
    checks.append(ok)
    if not args.no_plot:
        plot(os.path.join(ROOT, "docs", "exact-tf1.png"), "TF1 RMSProp", "TensorFlow", rel,
             steps_per_epoch)
    checks.append(exported_in_pytorch(args, ours_dir))

    init = os.path.join(args.work, "init-xavier.safetensors")
    draw_init(init, args.seed, 256, "xavier")
    modern = os.path.join(ROOT, "config", "modern.toml")
    mine = ours(args, init, os.path.join(args.work, "ours-modern"), config=modern)
    theirs = reference(args.torch_python, "torch_autoencoder.py", args, init, args.work, "torch",
                       extra=["--learning-rate", "0.0003", "--alpha", "0.99", "--momentum", "0.9",
                              "--eps", "1e-10"])
    ok, rel = compare("config/modern.toml (Burn's RMSProp)", "PyTorch", *mine, *theirs,
                      steps_per_epoch)
    checks.append(ok)
    if not args.no_plot:
        plot(os.path.join(ROOT, "docs", "exact-torch.png"), "modern.toml, RMSprop", "PyTorch",
             rel, steps_per_epoch)
    print("\nAll checks hold." if all(checks) else "\nA check FAILED.")
    sys.exit(0 if all(checks) else 1)


if __name__ == "__main__":
    main()
