#!/usr/bin/env python3
"""The tutorial's autoencoder in TensorFlow, TF1 API (tf.compat.v1), on the same IDX files.

The reference run the Rust trainer is compared against: the graph, loss, optimiser and loop of
the tutorial (784-256-784, sigmoid, tf.random_normal init, RMSPropOptimizer(0.01), batch 100),
the tutorial's split (first 5,000 training images validate), each epoch's order drawn afresh.

    python3 bench/reference/tf1_autoencoder.py --data ../shared/data/mnist --seed 1 --out tf-1.json

Writes JSON: {"seed", "epochs": [{"epoch", "train_cost", "valid_cost", "seconds"}], "test_mse"},
and with --figure FILE the first ten test digits over their reconstructions as a PNG.
For the step-by-step check (bench/exact.py): --init FILE starts from the weights in a
safetensors file (PyTorch's [out, in] layout, as `mnist-autoencoder export` writes), --no-shuffle
feeds the training images in file order every epoch, and --steps-out FILE writes every step's
loss as JSON. Needs `tensorflow-cpu` (pip) and numpy (and `safetensors` for --init).
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time
import zlib

import numpy as np

IMAGE_PIXELS = 28 * 28


def read_idx(directory, stem):
    """Reads `stem.gz` or `stem` from `directory` as a uint8 array."""
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            break
    else:
        sys.exit(f"error: no {stem}[.gz] in '{directory}'; pass --data the MNIST folder")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows * cols)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, offset=8)
    sys.exit(f"error: '{path}' is not an IDX file (magic {magic})")


def write_png(path, rows, scale=4, gap=8, background=96):
    """Gray PNG of `rows` (lists of 784-value images in [0, 1]), laid out as the Rust figure."""
    cell = 28 * scale
    cols = max(len(r) for r in rows)
    width, height = cols * cell + (cols + 1) * gap, len(rows) * cell + (len(rows) + 1) * gap
    canvas = np.full((height, width), background, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            digit = np.round(np.clip(np.asarray(image).reshape(28, 28), 0, 1) * 255).astype(np.uint8)
            top, left = gap + r * (cell + gap), gap + c * (cell + gap)
            canvas[top:top + cell, left:left + cell] = np.kron(digit, np.ones((scale, scale), np.uint8))
    raw = b"".join(b"\x00" + canvas[y].tobytes() for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def tutorial_arguments(description, epochs):
    """The options both reference scripts take: data, seed and the tutorial's settings."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--out", help="JSON file for the per-epoch costs (default: stdout)")
    parser.add_argument("--init", help="safetensors file of initial weights (PyTorch layout)")
    parser.add_argument("--no-shuffle", action="store_true", help="file order every epoch")
    parser.add_argument("--steps-out", help="JSON file for every training step's loss")
    return parser


NAMES = ["encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"]


def read_init(path, hidden):
    """The four tensors of a safetensors file in PyTorch's layout, checked against `hidden`."""
    from safetensors.numpy import load_file

    tensors = load_file(path)
    shapes = {"encoder.weight": (hidden, IMAGE_PIXELS), "encoder.bias": (hidden,),
              "decoder.weight": (IMAGE_PIXELS, hidden), "decoder.bias": (IMAGE_PIXELS,)}
    for name in NAMES:
        if name not in tensors or tensors[name].shape != shapes[name] or tensors[name].dtype != np.float32:
            sys.exit(f"error: '{path}' needs {name} as float32 {list(shapes[name])}")
    return [tensors[name] for name in NAMES]


def epoch_order(rng, count, shuffle):
    """The order of the training images in one epoch."""
    return rng.permutation(count) if shuffle else np.arange(count)


def write_steps(path, losses):
    """Every training step's loss, in order, as a JSON list."""
    if path:
        with open(path, "w") as f:
            json.dump([float(v) for v in losses], f)


def write_result(result, out):
    """Writes the run's JSON to `out`, or to stdout without one."""
    text = json.dumps(result, indent=1)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def main():
    parser = tutorial_arguments(__doc__.splitlines()[0], epochs=20)
    parser.add_argument("--figure", help="PNG of the first ten test digits over their reconstructions")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    tf1.set_random_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    started = time.perf_counter()
    train_all = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    test = read_idx(args.data, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0
    valid, train = train_all[: args.validation_size], train_all[args.validation_size:]
    load_seconds = time.perf_counter() - started

    # The tutorial's graph, as written there; with --init, its variables start from the file
    # (TF keeps a weight as [in, out]: PyTorch's transposed).
    if args.init:
        w1, b1, w2, b2 = read_init(args.init, args.hidden)
        start = [w1.T.copy(), b1, w2.T.copy(), b2]
    else:
        start = [tf1.random_normal([IMAGE_PIXELS, args.hidden]), tf1.random_normal([args.hidden]),
                 tf1.random_normal([args.hidden, IMAGE_PIXELS]), tf1.random_normal([IMAGE_PIXELS])]
    X = tf1.placeholder(tf.float32, [None, IMAGE_PIXELS])
    W_encode = tf.Variable(start[0])
    b_encode = tf.Variable(start[1])
    encoder = tf.nn.sigmoid(tf.add(tf.matmul(X, W_encode), b_encode))
    W_decode = tf.Variable(start[2])
    b_decode = tf.Variable(start[3])
    decoder = tf.nn.sigmoid(tf.add(tf.matmul(encoder, W_decode), b_decode))
    cost = tf.reduce_mean(tf.pow(X - decoder, 2))
    optimizer = tf1.train.RMSPropOptimizer(args.learning_rate).minimize(cost)

    sess = tf1.Session()
    sess.run(tf1.global_variables_initializer())
    total_batch = len(train) // args.batch_size
    epochs = []
    steps = []
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        order = epoch_order(rng, len(train), not args.no_shuffle)
        total_cost = 0.0
        for i in range(total_batch):
            batch = train[order[i * args.batch_size:(i + 1) * args.batch_size]]
            _, cost_val = sess.run([optimizer, cost], feed_dict={X: batch})
            total_cost += cost_val
            steps.append(cost_val)
        valid_costs = [
            sess.run(cost, feed_dict={X: valid[i:i + args.batch_size]})
            for i in range(0, len(valid), args.batch_size)
        ]
        seconds = time.perf_counter() - epoch_start
        row = {
            "epoch": epoch + 1,
            "train_cost": float(total_cost / total_batch),
            "valid_cost": float(np.mean(valid_costs)),
            "seconds": seconds,
        }
        epochs.append(row)
        print(f"Epoch: {epoch + 1:04d} Avg.cost = {row['train_cost']:.4f} "
              f"valid = {row['valid_cost']:.4f} secs = {seconds:.2f}", file=sys.stderr, flush=True)

    test_mse = float(sess.run(cost, feed_dict={X: test}))
    if args.figure:
        samples = sess.run(decoder, feed_dict={X: test[:10]})
        write_png(args.figure, [list(test[:10]), list(samples)])
    result = {
        "seed": args.seed,
        "tensorflow": tf.__version__,
        "load_seconds": load_seconds,
        "epochs": epochs,
        "test_mse": test_mse,
    }
    write_steps(args.steps_out, steps)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
