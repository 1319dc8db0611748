#!/usr/bin/env python3
"""The six autoencoders of Keras's "Building Autoencoders in Keras", in Keras, on the same files.

The reference each shipped config/keras-*.toml is compared against: the blog's models (simple,
sparse, deep, conv, denoising, vae), its losses (binary cross-entropy; the VAE's summed over the
pixels plus the KL divergence), Adam (Keras's defaults) and its batch sizes, on this project's
split (the first 5,000 training images validate, the other 55,000 train).

    python3 bench/reference/keras_autoencoders.py --data ../shared/data/mnist --kind simple \
        --epochs 5 --out keras-simple.json

--epochs defaults to the blog's; --limit N trains on the first N of the 55,000 only.
Writes JSON: {"kind", "epochs": [{"epoch", "train_loss", "valid_loss", "seconds"}],
"test_mse", "test_loss"}. Needs `tensorflow-cpu` (pip) and numpy.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tf1_autoencoder import read_idx  # noqa: E402  (the same IDX reader)

# kind: (epochs, batch) as the blog trains it.
SCHEDULES = {
    "simple": (50, 256),
    "sparse": (100, 256),
    "deep": (100, 256),
    "conv": (50, 128),
    "denoising": (100, 128),
    "vae": (100, 32),
}
VALIDATION = 5000


def dense(keras, layers, code, l1=0.0):
    """784 -> layers -> code (ReLU) and back, a sigmoid output."""
    inputs = keras.Input(shape=(784,))
    x = inputs
    for units in layers:
        x = keras.layers.Dense(units, activation="relu")(x)
    regularizer = keras.regularizers.l1(l1) if l1 else None
    x = keras.layers.Dense(code, activation="relu", activity_regularizer=regularizer)(x)
    for units in reversed(layers):
        x = keras.layers.Dense(units, activation="relu")(x)
    outputs = keras.layers.Dense(784, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def conv(keras, channels):
    """The blog's convolutional autoencoders: 3x3 ReLU convolutions each followed by 2x2 max
    pooling ('same'), mirrored with upsampling; the last convolution before the output 'valid'
    where the sides need it (16 -> 14 for 28)."""
    L = keras.layers
    inputs = keras.Input(shape=(28, 28, 1))
    x = inputs
    for c in channels:
        x = L.Conv2D(c, 3, activation="relu", padding="same")(x)
        x = L.MaxPooling2D(2, padding="same")(x)
    for i, c in enumerate(reversed(channels)):
        last = i == len(channels) - 1
        valid = last and len(channels) == 3
        x = L.Conv2D(c, 3, activation="relu", padding="valid" if valid else "same")(x)
        x = L.UpSampling2D(2)(x)
    outputs = L.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs)


def vae(keras, tf, hidden=64, latent=2):
    """The blog's VAE: 784-64 (ReLU) to a mean and log-variance of 2, sampled, 2-64-784."""
    L = keras.layers

    class Vae(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = L.Dense(hidden, activation="relu")
            self.mean = L.Dense(latent)
            self.log_var = L.Dense(latent)
            self.up = L.Dense(hidden, activation="relu")
            self.out = L.Dense(784, activation="sigmoid")

        def call(self, x, training=False):
            h = self.hidden(x)
            mean, log_var = self.mean(h), self.log_var(h)
            z = mean
            if training:
                z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            y = self.out(self.up(z))
            kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
            self.add_loss(tf.reduce_mean(kl))
            return y

    return Vae()


def build(kind, keras, tf):
    if kind in ("simple", "sparse", "deep"):
        layers = [128, 64] if kind == "deep" else []
        return dense(keras, layers, 32, 1e-4 if kind == "sparse" else 0.0)
    if kind == "conv":
        return conv(keras, [16, 8, 8])
    if kind == "denoising":
        return conv(keras, [32, 32])
    return vae(keras, tf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST files")
    parser.add_argument("--kind", required=True, choices=sorted(SCHEDULES))
    parser.add_argument("--epochs", type=int, help="default: the blog's")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(args.seed)
    epochs, batch = SCHEDULES[args.kind]
    epochs = args.epochs or epochs
    train = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    test = read_idx(args.data, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0
    valid, train = train[:VALIDATION], train[VALIDATION:]
    if args.limit:
        train = train[: args.limit]
    image = args.kind in ("conv", "denoising")
    shape = (-1, 28, 28, 1) if image else (-1, 784)
    train, valid, test = (a.reshape(shape) for a in (train, valid, test))
    inputs = train
    if args.kind == "denoising":
        rng = np.random.default_rng(args.seed)
        inputs = np.clip(train + 0.5 * rng.standard_normal(train.shape), 0, 1).astype(np.float32)

    model = build(args.kind, keras, tf)
    if args.kind == "vae":
        def reconstruction(y, p):
            return 784 * keras.losses.binary_crossentropy(y, p)
        loss = reconstruction
    else:
        loss = "binary_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {
                "epoch": epoch + 1,
                "train_loss": float(logs["loss"]),
                "valid_loss": float(logs["val_loss"]),
                "seconds": time.perf_counter() - self.start,
            }
            rows.append(row)
            print(f"Epoch: {epoch + 1:04d} loss = {row['train_loss']:.4f} "
                  f"valid = {row['valid_loss']:.4f} secs = {row['seconds']:.2f}", flush=True)

    rows = []
    model.fit(inputs, train, epochs=epochs, batch_size=batch, shuffle=True,
              validation_data=(valid, valid), callbacks=[Timer()], verbose=0)
    predicted = model.predict(test, batch_size=1000, verbose=0)
    test_mse = float(np.mean((predicted - test) ** 2))
    test_loss = float(model.evaluate(test, test, batch_size=1000, verbose=0))
    print(f"Test MSE = {test_mse:.6f}, test loss = {test_loss:.6f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"kind": args.kind, "epochs": rows, "test_mse": test_mse,
                       "test_loss": test_loss}, f, indent=1)


if __name__ == "__main__":
    main()
