#!/usr/bin/env python3
"""The tutorial's autoencoder in PyTorch (CPU), on the same IDX files: what many users would
write instead. For timing (bench/compare.py), not for fidelity.

Same model and loop as tf1_autoencoder.py: 784-256-784, sigmoid twice, N(0, 1) weights and
biases, mean squared error, batch 100, each epoch's order drawn afresh, validation after each
epoch. The optimiser is PyTorch's RMSprop(lr 0.01, alpha 0.9, eps 1e-10): the same cost per
step as TF1's (its update differs in where epsilon goes and in the accumulator's start).

    python3 bench/reference/torch_autoencoder.py --data ../shared/data/mnist --epochs 3 --out torch.json

Writes JSON: {"seed", "torch", "threads", "load_seconds", "epochs": [{"epoch", "train_cost",
"valid_cost", "seconds"}]}. --alpha, --momentum and --eps set RMSprop's other settings (our
`burn-rmsprop` is the same update); --init, --no-shuffle and --steps-out are as in
tf1_autoencoder.py. With --evaluate FILE it only loads a safetensors file of weights (what
`mnist-autoencoder export` writes) into this model and prints its test MSE.
Needs `torch` (pip) and numpy (and `safetensors` for --init and --evaluate).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tf1_autoencoder import (  # noqa: E402  (the same reader, options and step log)
    IMAGE_PIXELS, NAMES, epoch_order, read_idx, read_init, tutorial_arguments, write_result, write_steps)


def autoencoder(torch, hidden):
    """784-hidden-784, a sigmoid after each Linear; its parameters are named as NAMES."""
    class Autoencoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(IMAGE_PIXELS, hidden)
            self.decoder = torch.nn.Linear(hidden, IMAGE_PIXELS)

        def forward(self, x):
            return torch.sigmoid(self.decoder(torch.sigmoid(self.encoder(x))))

    return Autoencoder()


def load_weights(torch, model, path, hidden):
    """Copies the tensors of a safetensors file into `model`."""
    tensors = read_init(path, hidden)
    with torch.no_grad():
        for name, value in zip(NAMES, tensors):
            model.get_parameter(name).copy_(torch.from_numpy(value))


def evaluate(torch, args):
    """Prints the test MSE of the weights in args.evaluate: all pixels of all test images."""
    from safetensors import safe_open

    with safe_open(args.evaluate, "np") as f:
        hidden = f.get_tensor("encoder.weight").shape[0]
    model = autoencoder(torch, hidden)
    load_weights(torch, model, args.evaluate, hidden)
    test = torch.from_numpy(read_idx(args.data, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0)
    with torch.no_grad():
        mse = torch.mean((model(test).double() - test.double()) ** 2).item()
    print(f"Test MSE = {mse:.9f} ({len(test)} test images, PyTorch {torch.__version__})")


def main():
    parser = tutorial_arguments(__doc__.splitlines()[0], epochs=3)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--eps", type=float, default=1e-10)
    parser.add_argument("--evaluate", help="safetensors file: print its test MSE and stop")
    args = parser.parse_args()

    import torch

    if args.evaluate:
        return evaluate(torch, args)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    started = time.perf_counter()
    train_all = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    valid = torch.from_numpy(train_all[: args.validation_size].copy())
    train = torch.from_numpy(train_all[args.validation_size:].copy())
    load_seconds = time.perf_counter() - started

    model = autoencoder(torch, args.hidden)
    if args.init:
        load_weights(torch, model, args.init, args.hidden)
    else:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 1.0)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.learning_rate, alpha=args.alpha,
                                    eps=args.eps, momentum=args.momentum)
    loss_fn = torch.nn.MSELoss()

    total_batch = len(train) // args.batch_size
    epochs = []
    steps = []
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        order = torch.from_numpy(epoch_order(rng, len(train), not args.no_shuffle))
        total_cost = 0.0
        for i in range(total_batch):
            batch = train[order[i * args.batch_size:(i + 1) * args.batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch), batch)
            loss.backward()
            optimizer.step()
            steps.append(loss.item())
            total_cost += steps[-1]
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
    write_steps(args.steps_out, steps)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
