"""Train the classifier: stratified validation split, augmentation, early stopping.

The caller passes a `TrainingListener` to observe progress (per batch and per
epoch) and to request a cooperative stop, checked after every batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from ml_core.config import MINIMUM_LEARNING_RATE, PLATEAU_FACTOR, TrainingConfig
from ml_core.model import build_model


class TrainingListener(Protocol):
    """What a job implements to persist progress and to ask training to stop.

    `should_stop` is called after every batch, so it must be cheap: a listener
    backed by a database reads its flag at a bounded rate.
    """

    def on_batch_end(
        self, epoch: int, batch: int, batches_per_epoch: int, metrics: dict[str, float]
    ) -> None: ...

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None: ...

    def should_stop(self) -> bool: ...


class SilentListener:
    def on_batch_end(
        self, epoch: int, batch: int, batches_per_epoch: int, metrics: dict[str, float]
    ) -> None:
        pass

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainingResult:
    model: keras.Model
    history: list[dict[str, float]]  # one entry per epoch run
    best_epoch: int  # 1-based; the weights kept are this epoch's
    stop_requested: bool
    stopped_early: bool
    train_count: int
    validation_count: int
    duration_seconds: float
    validation_metrics: dict[str, float] = field(default_factory=dict)


def split_train_validation(
    labels: np.ndarray, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of training indices into (train, validation)."""
    indices = np.arange(len(labels))
    train_indices, validation_indices = train_test_split(
        indices, test_size=validation_fraction, random_state=seed, stratify=labels
    )
    return np.sort(train_indices), np.sort(validation_indices)


def build_augmentation(config: TrainingConfig) -> keras.Sequential:
    """Random flip, shift, rotation and zoom, applied to training batches only."""
    augmentation_layers: list[keras.layers.Layer] = []
    seed = config.seed
    if config.flip:
        augmentation_layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if config.shift_fraction:
        augmentation_layers.append(
            keras.layers.RandomTranslation(
                config.shift_fraction, config.shift_fraction, fill_mode="reflect", seed=seed
            )
        )
    if config.rotation_fraction:
        augmentation_layers.append(
            keras.layers.RandomRotation(config.rotation_fraction, fill_mode="reflect", seed=seed)
        )
    if config.zoom_fraction:
        augmentation_layers.append(
            keras.layers.RandomZoom(config.zoom_fraction, fill_mode="reflect", seed=seed)
        )
    return keras.Sequential(augmentation_layers, name="augmentation")


def make_training_dataset(
    images: np.ndarray, labels: np.ndarray, config: TrainingConfig
) -> tf.data.Dataset:
    """Shuffled, augmented batches; augmentation runs in the input pipeline."""
    augmentation = build_augmentation(config)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.batch_size)
    if not augmentation.layers:
        return dataset.prefetch(tf.data.AUTOTUNE)
    dataset = dataset.map(
        lambda batch_images, batch_labels: (
            tf.clip_by_value(augmentation(batch_images, training=True), 0.0, 1.0),
            batch_labels,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


class _ListenerCallback(keras.callbacks.Callback):
    def __init__(self, listener: TrainingListener, epochs: int, batches_per_epoch: int):
        super().__init__()
        self.listener = listener
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.current_epoch = 1
        self.history: list[dict[str, float]] = []
        self.stop_requested = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.current_epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        self.listener.on_batch_end(self.current_epoch, batch + 1, self.batches_per_epoch, metrics)
        if self.listener.should_stop():
            self.stop_requested = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        metrics["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        self.history.append({"epoch": epoch + 1, **metrics})
        self.listener.on_epoch_end(epoch + 1, self.epochs, metrics)


def train_model(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    config: TrainingConfig,
    listener: TrainingListener | None = None,
) -> TrainingResult:
    """Train a fresh model on preprocessed float32 images (N, H, W, 3) in [0, 1].

    A stratified `validation_fraction` of these training images is held out for
    validation, early stopping and the learning-rate schedule. The test split is
    never seen here.
    """
    listener = listener or SilentListener()
    labels = np.asarray(labels, dtype=np.int64)
    keras.utils.set_random_seed(config.seed)
    train_indices, validation_indices = split_train_validation(
        labels, config.validation_fraction, config.seed
    )
    x_train, y_train = images[train_indices], labels[train_indices]
    x_validation, y_validation = images[validation_indices], labels[validation_indices]

    model = build_model(images.shape[1:], len(class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    batches_per_epoch = math.ceil(len(y_train) / config.batch_size)
    progress = _ListenerCallback(listener, config.epochs, batches_per_epoch)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        mode="max",
        patience=config.early_stopping_patience,
        restore_best_weights=True,  # also when every epoch ran (Keras >= 3.x)
    )
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=PLATEAU_FACTOR,
        patience=config.plateau_patience,
        min_lr=MINIMUM_LEARNING_RATE,
    )
    started = time.monotonic()
    model.fit(
        make_training_dataset(x_train, y_train, config),
        validation_data=(x_validation, y_validation),
        epochs=config.epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[plateau, early_stopping, progress],
        verbose=0,
    )
    duration = time.monotonic() - started
    best_epoch = early_stopping.best_epoch + 1
    validation_loss, validation_accuracy = model.evaluate(
        x_validation, y_validation, batch_size=256, verbose=0
    )
    return TrainingResult(
        model=model,
        history=progress.history,
        best_epoch=best_epoch,
        stop_requested=progress.stop_requested,
        stopped_early=early_stopping.stopped_epoch > 0,
        train_count=len(y_train),
        validation_count=len(y_validation),
        duration_seconds=duration,
        validation_metrics={
            "loss": float(validation_loss),
            "accuracy": float(validation_accuracy),
        },
    )
