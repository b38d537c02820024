"""Train the classifier: stratified validation split, augmentation, schedule, calibration.

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

from ml_core.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
    negative_log_likelihood,
)
from ml_core.config import (
    MINIMUM_LEARNING_RATE,
    PLATEAU_FACTOR,
    SGD_MOMENTUM,
    TrainingConfig,
)
from ml_core.model import build_model

# Cutout blanks to mid-grey, close to the mean pixel of natural images in [0, 1].
CUTOUT_FILL = 0.5
EVALUATION_BATCH_SIZE = 256


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
    calibration: dict[str, float | str] = field(default_factory=dict)


def split_train_validation(
    labels: np.ndarray, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of training indices into (train, validation)."""
    indices = np.arange(len(labels))
    train_indices, validation_indices = train_test_split(
        indices, test_size=validation_fraction, random_state=seed, stratify=labels
    )
    return np.sort(train_indices), np.sort(validation_indices)


def _per_image_crop(images: tf.Tensor, padding: int, seed: tf.Tensor) -> tf.Tensor:
    """Each image padded by reflection, then cropped back at its own random offset."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], "REFLECT")
    offsets = tf.random.stateless_uniform(
        (batch, 2), seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]
    columns = offsets[:, 1:] + tf.range(width)[tf.newaxis, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, columns, axis=2, batch_dims=1)


def _cutout(images: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Blank one size x size square per image (centre anywhere; may overhang the edge)."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    centres = tf.random.stateless_uniform(
        (batch, 2), seed, minval=0, maxval=tf.minimum(height, width), dtype=tf.int32
    )
    top = centres[:, :1] - size // 2
    left = centres[:, 1:] - size // 2
    row_inside = (tf.range(height)[tf.newaxis, :] >= top) & (
        tf.range(height)[tf.newaxis, :] < top + size
    )
    column_inside = (tf.range(width)[tf.newaxis, :] >= left) & (
        tf.range(width)[tf.newaxis, :] < left + size
    )
    inside = row_inside[:, :, tf.newaxis] & column_inside[:, tf.newaxis, :]
    return tf.where(inside[..., tf.newaxis], tf.constant(CUTOUT_FILL, images.dtype), images)


def _mixup(
    images: tf.Tensor, targets: tf.Tensor, alpha: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Blend each image and target with the batch's mirror image (batches are shuffled)."""
    batch = tf.shape(images)[0]
    first, second = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    gamma_a = tf.random.stateless_gamma((batch,), first, alpha=alpha)
    gamma_b = tf.random.stateless_gamma((batch,), second, alpha=alpha)
    weight = gamma_a / (gamma_a + gamma_b)
    mixed_images = tf.reverse(images, axis=[0])
    mixed_targets = tf.reverse(targets, axis=[0])
    image_weight = weight[:, tf.newaxis, tf.newaxis, tf.newaxis]
    target_weight = weight[:, tf.newaxis]
    return (
        image_weight * images + (1 - image_weight) * mixed_images,
        target_weight * targets + (1 - target_weight) * mixed_targets,
    )


def augment_batch(
    images: tf.Tensor, targets: tf.Tensor, seed: tf.Tensor, config: TrainingConfig
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random flip, padded crop, cutout and mixup of one batch (stateless, seeded)."""
    flip_seed, crop_seed, cutout_seed, mixup_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )
    if config.flip:
        flip = tf.random.stateless_uniform((tf.shape(images)[0],), flip_seed) < 0.5
        images = tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], images[:, :, ::-1], images)
    if config.crop_padding:
        images = _per_image_crop(images, config.crop_padding, crop_seed)
    if config.cutout_size:
        images = _cutout(images, config.cutout_size, cutout_seed)
    if config.mixup_alpha:
        images, targets = _mixup(images, targets, config.mixup_alpha, mixup_seed)
    return images, targets


def make_training_dataset(
    images: np.ndarray, labels: np.ndarray, num_classes: int, config: TrainingConfig
) -> tf.data.Dataset:
    """Shuffled, augmented batches of (images, one-hot targets).

    Augmentation runs in the input pipeline on whole batches; every batch draws its
    own seed from a seeded stream that differs from epoch to epoch.
    """
    targets = keras.utils.to_categorical(labels, num_classes).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    dataset = dataset.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.batch_size)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(dataset, seeds).map(
        lambda batch, seed: augment_batch(batch[0], batch[1], seed, config),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(
    config: TrainingConfig, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Cosine: linear warm-up to the peak, then cosine decay to zero at the last step.

    Plateau: a constant rate that ReduceLROnPlateau lowers.
    """
    if config.learning_rate_schedule == "plateau":
        return config.learning_rate
    warmup_steps = config.effective_warmup_epochs * steps_per_epoch
    decay_steps = (config.epochs - config.effective_warmup_epochs) * steps_per_epoch
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, warmup_target=config.learning_rate, warmup_steps=warmup_steps
    )


def build_optimizer(config: TrainingConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    schedule = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=SGD_MOMENTUM, nesterov=True, weight_decay=config.weight_decay
        )
    else:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    # Decay shrinks kernels only: batch norm's scale and shift and the biases are
    # not weights whose size regularisation should pull towards zero.
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


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


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return keras.utils.to_categorical(labels, num_classes).astype(np.float32)


def _schedule_callbacks(
    config: TrainingConfig,
) -> tuple[list[keras.callbacks.Callback], keras.callbacks.EarlyStopping | None]:
    """The plateau schedule's callbacks; the cosine schedule needs none."""
    if config.learning_rate_schedule != "plateau":
        return [], None
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
    return [plateau, early_stopping], early_stopping


def _calibrate(
    model: keras.Model, images: np.ndarray, labels: np.ndarray
) -> tuple[dict[str, float], dict[str, float | str]]:
    """Fit the temperature on validation images; (validation metrics, calibration)."""
    probabilities = model.predict(images, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    temperature = fit_temperature(probabilities, labels)
    calibrated = apply_temperature(probabilities, temperature)
    log_probs = log_probabilities(probabilities)
    validation_metrics = {
        "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
        "loss": negative_log_likelihood(log_probs, labels),
        "loss_calibrated": negative_log_likelihood(log_probabilities(calibrated), labels),
        "ece_uncalibrated": expected_calibration_error(probabilities, labels),
        "ece": expected_calibration_error(calibrated, labels),
    }
    calibration: dict[str, float | str] = {
        "method": "temperature",
        "temperature": temperature,
        "fitted_on": "validation",
    }
    return validation_metrics, calibration


def train_model(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    config: TrainingConfig,
    listener: TrainingListener | None = None,
) -> TrainingResult:
    """Train a fresh model on preprocessed float32 images (N, H, W, 3) in [0, 1].

    A stratified `validation_fraction` of these training images is held out: it
    drives the plateau schedule and fits the calibration temperature. The test split
    is never seen here.
    """
    listener = listener or SilentListener()
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    keras.utils.set_random_seed(config.seed)
    train_indices, validation_indices = split_train_validation(
        labels, config.validation_fraction, config.seed
    )
    x_train, y_train = images[train_indices], labels[train_indices]
    x_validation, y_validation = images[validation_indices], labels[validation_indices]

    batches_per_epoch = math.ceil(len(y_train) / config.batch_size)
    model = build_model(images.shape[1:], num_classes)
    model.compile(
        optimizer=build_optimizer(config, batches_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    progress = _ListenerCallback(listener, config.epochs, batches_per_epoch)
    schedule_callbacks, early_stopping = _schedule_callbacks(config)
    started = time.monotonic()
    model.fit(
        make_training_dataset(x_train, y_train, num_classes, config),
        validation_data=(x_validation, _one_hot(y_validation, num_classes)),
        epochs=config.epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[*schedule_callbacks, progress],
        verbose=0,
    )
    duration = time.monotonic() - started
    if early_stopping is not None:
        best_epoch = early_stopping.best_epoch + 1
        stopped_early = early_stopping.stopped_epoch > 0
    else:  # the cosine schedule ends at rate zero: its last epoch is the one kept
        best_epoch = len(progress.history)
        stopped_early = False
    validation_metrics, calibration = _calibrate(model, x_validation, y_validation)
    return TrainingResult(
        model=model,
        history=progress.history,
        best_epoch=best_epoch,
        stop_requested=progress.stop_requested,
        stopped_early=stopped_early,
        train_count=len(y_train),
        validation_count=len(y_validation),
        duration_seconds=duration,
        validation_metrics=validation_metrics,
        calibration=calibration,
    )
