"""The convolutional network: four blocks of 32, 64, 128 and 256 filters."""

from __future__ import annotations

import keras
from keras import layers

BLOCK_FILTERS = (32, 64, 128, 256)
CONVOLUTIONS_PER_BLOCK = 2
KERNEL_SIZE = 3
# Dropout grows with depth: early features are generic, late ones overfit first.
BLOCK_DROPOUT_RATES = (0.25, 0.3, 0.35, 0.4)
DENSE_UNITS = 512
DENSE_DROPOUT_RATE = 0.5


def _conv_block(inputs, filters: int, dropout_rate: float, block_number: int):
    x = inputs
    for convolution_number in range(1, CONVOLUTIONS_PER_BLOCK + 1):
        name = f"block{block_number}_conv{convolution_number}"
        x = layers.Conv2D(filters, KERNEL_SIZE, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.MaxPooling2D(name=f"block{block_number}_pool")(x)
    return layers.Dropout(dropout_rate, name=f"block{block_number}_dropout")(x)


def build_model(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Build (uncompiled) the classifier; its output is class probabilities."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for block_number, (filters, dropout_rate) in enumerate(
        zip(BLOCK_FILTERS, BLOCK_DROPOUT_RATES, strict=True), start=1
    ):
        x = _conv_block(x, filters, dropout_rate, block_number)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(DENSE_UNITS, use_bias=False, name="dense")(x)
    x = layers.BatchNormalization(name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    x = layers.Dropout(DENSE_DROPOUT_RATE, name="dense_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cifar_cnn")


def count_flops(model: keras.Model) -> int:
    """Floating-point operations for one image's forward pass (2 per multiply-add).

    Counts convolutions and dense layers, which are all but a fraction of a
    percent of the work; batch norm folds into the convolution at inference.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kernel_height, kernel_width, in_channels, _ = layer.kernel.shape
            multiply_adds = (
                height * width * out_channels * kernel_height * kernel_width * in_channels
            )
            total += 2 * multiply_adds
        elif isinstance(layer, layers.Dense):
            in_units, out_units = layer.kernel.shape
            total += 2 * in_units * out_units
    return int(total)
