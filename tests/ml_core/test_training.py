from collections import Counter

import numpy as np
import pytest

from ml_core.training import (
    TrainingConfig,
    make_training_dataset,
    split_train_validation,
    train_model,
)

NO_AUGMENTATION = {"flip": False, "shift_fraction": 0, "rotation_fraction": 0, "zoom_fraction": 0}


def as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


class RecordingListener:
    def __init__(self, stop_after_batches: int | None = None):
        self.batches: list[tuple[int, int, int]] = []
        self.epochs: list[tuple[int, int, dict]] = []
        self.stop_after_batches = stop_after_batches

    def on_batch_end(self, epoch, batch, batches_per_epoch, metrics):
        self.batches.append((epoch, batch, batches_per_epoch))

    def on_epoch_end(self, epoch, epochs, metrics):
        self.epochs.append((epoch, epochs, metrics))

    def should_stop(self):
        return self.stop_after_batches is not None and len(self.batches) >= self.stop_after_batches


def test_validation_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(10), 40)
    train, validation = split_train_validation(labels, 0.1, seed=7)
    assert set(train).isdisjoint(validation)
    assert len(train) + len(validation) == len(labels)
    assert Counter(labels[validation].tolist()) == {label: 4 for label in range(10)}
    again, _ = split_train_validation(labels, 0.1, seed=7)
    other, _ = split_train_validation(labels, 0.1, seed=8)
    assert np.array_equal(train, again)
    assert not np.array_equal(train, other)


def test_augmentation_changes_training_batches_but_not_labels(small_dataset):
    images = as_float(small_dataset.train.images[:64])
    labels = small_dataset.train.labels[:64]
    config = TrainingConfig(batch_size=64, seed=1)
    augmented, augmented_labels = next(iter(make_training_dataset(images, labels, config)))
    plain, plain_labels = next(
        iter(
            make_training_dataset(
                images, labels, TrainingConfig(batch_size=64, seed=1, **NO_AUGMENTATION)
            )
        )
    )
    # Same shuffle either way; only the pixels differ.
    assert np.array_equal(augmented_labels.numpy(), plain_labels.numpy())
    assert sorted(plain_labels.numpy().tolist()) == sorted(labels.tolist())
    difference = np.abs(augmented.numpy() - plain.numpy()).mean(axis=(1, 2, 3))
    assert (difference > 0.01).mean() > 0.5
    assert augmented.numpy().min() >= 0 and augmented.numpy().max() <= 1


def test_one_epoch_reports_batches_and_epoch_metrics(small_dataset):
    listener = RecordingListener()
    config = TrainingConfig(epochs=1, batch_size=32, seed=3)
    result = train_model(
        as_float(small_dataset.train.images),
        small_dataset.train.labels,
        small_dataset.class_names,
        config,
        listener,
    )
    assert result.train_count == 180 and result.validation_count == 20
    assert listener.batches[-1] == (1, 6, 6)  # ceil(180 / 32) batches
    epoch, epochs, metrics = listener.epochs[0]
    assert (epoch, epochs) == (1, 1)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(metrics)
    assert len(result.history) == 1 and result.best_epoch == 1
    assert not result.stop_requested
    assert 0 <= result.validation_metrics["accuracy"] <= 1


def test_stop_request_ends_training_within_the_current_epoch(small_dataset):
    listener = RecordingListener(stop_after_batches=2)
    result = train_model(
        as_float(small_dataset.train.images),
        small_dataset.train.labels,
        small_dataset.class_names,
        TrainingConfig(epochs=5, batch_size=32),
        listener,
    )
    assert result.stop_requested
    assert len(listener.batches) == 2
    assert len(result.history) <= 1


def test_invalid_configuration_names_every_problem():
    with pytest.raises(ValueError, match="epochs must be at least 1; batch_size must be between"):
        TrainingConfig(epochs=0, batch_size=0)
