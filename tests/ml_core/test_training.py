import itertools
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from ml_core.config import RETIRED_KNOBS
from ml_core.training import (
    CUTOUT_FILL,
    TrainingConfig,
    augment_batch,
    build_optimizer,
    learning_rate_schedule,
    make_training_dataset,
    split_train_validation,
    train_model,
)

NO_AUGMENTATION = {"flip": False, "crop_padding": 0, "cutout_size": 0, "mixup_alpha": 0}
CLASSES = 10


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
    augmented, augmented_targets = next(
        iter(make_training_dataset(images, labels, CLASSES, config))
    )
    plain, plain_targets = next(
        iter(
            make_training_dataset(
                images, labels, CLASSES, TrainingConfig(batch_size=64, seed=1, **NO_AUGMENTATION)
            )
        )
    )
    # Same shuffle either way; only the pixels differ (no mixup: targets stay one-hot).
    assert np.array_equal(augmented_targets.numpy(), plain_targets.numpy())
    assert sorted(plain_targets.numpy().argmax(axis=1).tolist()) == sorted(labels.tolist())
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
    # The temperature is fitted on the validation images and lowers their loss.
    assert result.calibration["fitted_on"] == "validation"
    assert 0.05 <= result.calibration["temperature"] <= 20
    validation = result.validation_metrics
    assert validation["loss_calibrated"] <= validation["loss"] + 1e-9
    assert 0 <= validation["ece"] <= 1 and 0 <= validation["ece_uncalibrated"] <= 1


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


def test_plateau_schedule_keeps_the_best_validation_epoch(small_dataset):
    config = TrainingConfig(
        epochs=3,
        batch_size=64,
        learning_rate_schedule="plateau",
        plateau_patience=1,
        early_stopping_patience=2,
    )
    result = train_model(
        as_float(small_dataset.train.images),
        small_dataset.train.labels,
        small_dataset.class_names,
        config,
    )
    accuracies = [epoch["val_accuracy"] for epoch in result.history]
    assert result.best_epoch == int(np.argmax(accuracies)) + 1
    # The weights kept are the best epoch's: the final validation accuracy is its.
    assert result.validation_metrics["accuracy"] == pytest.approx(max(accuracies), abs=1e-6)
    rates = [epoch["learning_rate"] for epoch in result.history]
    assert rates[0] == pytest.approx(config.learning_rate)
    assert all(later <= earlier for earlier, later in itertools.pairwise(rates))


def test_invalid_configuration_names_every_problem():
    with pytest.raises(ValueError, match="epochs must be between 1 and 500; batch_size must be"):
        TrainingConfig(epochs=0, batch_size=0)
    with pytest.raises(ValueError, match="optimizer must be one of") as error:
        TrainingConfig(
            optimizer="rmsprop",
            learning_rate_schedule="step",
            weight_decay=-1,
            label_smoothing=0.9,
            crop_padding=40,
            cutout_size=-1,
            mixup_alpha=-0.1,
            warmup_epochs=-1,
        )
    for problem in (
        "optimizer must be one of adamw, sgd",
        "learning_rate_schedule must be one of cosine, plateau",
        "weight_decay must be in [0, 1]",
        "label_smoothing must be in [0, 0.5]",
        "crop_padding must be between 0 and 16",
        "cutout_size must be between 0 and 32",
        "mixup_alpha must be in [0, 10]",
        "warmup_epochs must be between 0 and 100",
    ):
        assert problem in str(error.value)


def test_stored_parameters_of_earlier_recipes_still_load_but_unknown_ones_do_not():
    stored = {**TrainingConfig(epochs=7).to_dict(), **dict.fromkeys(RETIRED_KNOBS, 0.1)}
    assert TrainingConfig.from_dict(stored) == TrainingConfig(epochs=7)
    with pytest.raises(ValueError, match="unknown training parameters: colour"):
        TrainingConfig.from_dict({"epochs": 7, "colour": "blue"})


def learning_rates(config: TrainingConfig, steps_per_epoch: int) -> np.ndarray:
    schedule = learning_rate_schedule(config, steps_per_epoch)
    return np.array([float(schedule(step)) for step in range(config.epochs * steps_per_epoch)])


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    config = TrainingConfig(epochs=10, warmup_epochs=2, learning_rate=0.01)
    rates = learning_rates(config, steps_per_epoch=5)
    warmup, decay = rates[:10], rates[10:]
    assert rates[0] == 0 and rates[5] == pytest.approx(0.005) and rates[10] == pytest.approx(0.01)
    assert (np.diff(warmup) > 0).all() and (np.diff(decay) < 0).all()
    assert decay[len(decay) // 2] == pytest.approx(0.005, rel=0.05)  # cosine: half at the middle
    assert rates[-1] < 0.01 * 0.01  # one step before zero


def test_a_run_shorter_than_the_warmup_still_decays():
    rates = learning_rates(TrainingConfig(epochs=1, warmup_epochs=3, learning_rate=0.01), 4)
    assert rates[0] == pytest.approx(0.01) and (np.diff(rates) < 0).all()


def test_plateau_schedule_starts_at_a_constant_rate():
    config = TrainingConfig(learning_rate_schedule="plateau", learning_rate=0.003)
    assert learning_rate_schedule(config, steps_per_epoch=10) == 0.003


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_weight_decay_shrinks_kernels_but_not_batch_norm_or_biases(optimizer):
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    config = TrainingConfig(
        optimizer=optimizer, weight_decay=0.5, learning_rate=0.1, warmup_epochs=0
    )
    rule = build_optimizer(config, steps_per_epoch=1)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    # A zero gradient moves nothing; only the decay acts.
    rule.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    after = {v.path: v.numpy() for v in model.trainable_variables}
    for path in before:
        if path.endswith("kernel"):
            assert np.abs(after[path]).sum() < np.abs(before[path]).sum()
        else:
            assert np.array_equal(after[path], before[path]), path


def one_batch(config: TrainingConfig, count: int = 16):
    rng = np.random.default_rng(0)
    images = rng.random((count, 32, 32, 3)).astype(np.float32)
    targets = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, count)]
    augmented, augmented_targets = augment_batch(
        tf.constant(images), tf.constant(targets), tf.constant([3, 4], tf.int64), config
    )
    return images, targets, augmented.numpy(), augmented_targets.numpy()


def test_padded_crop_shifts_each_image_by_at_most_the_padding():
    config = TrainingConfig(**{**NO_AUGMENTATION, "crop_padding": 4})
    images, _, augmented, _ = one_batch(config)
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    offsets = set()
    for image, result in zip(padded, augmented, strict=True):
        matches = [
            (top, left)
            for top in range(9)
            for left in range(9)
            if np.array_equal(image[top : top + 32, left : left + 32], result)
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 1  # each image has its own offset


def test_cutout_blanks_one_square_of_at_most_its_size_per_image():
    config = TrainingConfig(**{**NO_AUGMENTATION, "cutout_size": 8})
    images, _, augmented, _ = one_batch(config)
    for image, result in zip(images, augmented, strict=True):
        rows, columns = np.nonzero((result != image).any(axis=2))
        assert 0 < len(rows) <= 64
        assert rows.max() - rows.min() < 8 and columns.max() - columns.min() < 8
        assert (result[rows, columns] == CUTOUT_FILL).all()


def test_flip_mirrors_some_images_and_leaves_the_others():
    images, _, augmented, _ = one_batch(TrainingConfig(**{**NO_AUGMENTATION, "flip": True}))
    pairs = list(zip(images, augmented, strict=True))
    flipped = [np.array_equal(result, image[:, ::-1]) for image, result in pairs]
    kept = [np.array_equal(result, image) for image, result in pairs]
    assert all(a != b for a, b in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)


def test_mixup_blends_images_and_targets_with_the_same_weights():
    config = TrainingConfig(**{**NO_AUGMENTATION, "mixup_alpha": 0.4})
    images, targets, augmented, mixed_targets = one_batch(config)
    assert np.allclose(mixed_targets.sum(axis=1), 1.0)
    for index in range(len(images)):
        partner = len(images) - 1 - index  # each image pairs with the batch's mirror
        weight = mixed_targets[index] @ targets[index] if partner != index else 1.0
        if not np.array_equal(targets[index], targets[partner]):
            expected = weight * images[index] + (1 - weight) * images[partner]
            assert np.allclose(augmented[index], expected, atol=1e-5)


def test_augmentation_is_seeded_and_differs_from_epoch_to_epoch(small_dataset):
    images = as_float(small_dataset.train.images[:32])
    labels = small_dataset.train.labels[:32]
    config = TrainingConfig(batch_size=32, seed=5)
    dataset = make_training_dataset(images, labels, CLASSES, config)
    first_epoch = next(iter(dataset))[0].numpy()
    second_epoch = next(iter(dataset))[0].numpy()
    again = next(iter(make_training_dataset(images, labels, CLASSES, config)))[0].numpy()
    assert np.array_equal(first_epoch, again)
    assert not np.array_equal(first_epoch, second_epoch)
