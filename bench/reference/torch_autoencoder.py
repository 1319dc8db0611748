#!/usr/bin/env python3
"""The tutorial's autoencoder in PyTorch (CPU), on the same IDX files: what many users would
write instead. For timing (bench/compare.py), not for fidelity.

Same model and loop as tf1_autoencoder.py: 784-256-784, sigmoid twice, N(0, 1) weights and
biases, mean squared error, batch 100, each epoch's order drawn afresh, validation after each
epoch. The optimiser is PyTorch's RMSprop(lr 0.01, alpha 0.9, eps 1e-10): the same cost per
step as TF1's (its update differs in where epsilon goes and in the accumulator's start).

    python3 bench/reference/torch_autoencoder.py --data ../shared/data/mnist --epochs 3 --out torch.json

Writes JSON: {"seed", "torch", "threads", "load_seconds", "epochs": [{"epoch", "train_cost",
"valid_cost", "seconds"}]}. Needs `torch` (pip) and numpy.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tf1_autoencoder import IMAGE_PIXELS, read_idx, tutorial_arguments, write_result  # noqa: E402  (the same reader and options)


def main():
    parser = tutorial_arguments(__doc__.splitlines()[0], epochs=3)
    args = parser.parse_args()

    import torch

    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    started = time.perf_counter()
    train_all = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    valid = torch.from_numpy(train_all[: args.validation_size].copy())
    train = torch.from_numpy(train_all[args.validation_size:].copy())
    load_seconds = time.perf_counter() - started

    model = torch.nn.Sequential(
        torch.nn.Linear(IMAGE_PIXELS, args.hidden), torch.nn.Sigmoid(),
        torch.nn.Linear(args.hidden, IMAGE_PIXELS), torch.nn.Sigmoid(),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.0)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.learning_rate, alpha=0.9, eps=1e-10)
    loss_fn = torch.nn.MSELoss()

    total_batch = len(train) // args.batch_size
    epochs = []
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(train)))
        total_cost = 0.0
        for i in range(total_batch):
            batch = train[order[i * args.batch_size:(i + 1) * args.batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch), batch)
            loss.backward()
            optimizer.step()
            total_cost += loss.item()
        with torch.no_grad():
            valid_costs = [loss_fn(model(valid[i:i + args.batch_size]), valid[i:i + args.batch_size]).item()
                           for i in range(0, len(valid), args.batch_size)]
        seconds = time.perf_counter() - epoch_start
        row = {"epoch": epoch + 1, "train_cost": total_cost / total_batch,
               "valid_cost": float(np.mean(valid_costs)), "seconds": seconds}
        epochs.append(row)
        print(f"Epoch: {epoch + 1:04d} Avg.cost = {row['train_cost']:.4f} "
              f"valid = {row['valid_cost']:.4f} secs = {seconds:.2f}", file=sys.stderr, flush=True)

    result = {"seed": args.seed, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "load_seconds": load_seconds, "epochs": epochs}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
