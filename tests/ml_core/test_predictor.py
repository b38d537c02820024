import io
import json

import numpy as np
import pytest
from PIL import Image

from ml_core.artifacts import (
    METADATA_FILENAME,
    ArtifactError,
    build_metadata,
    load_metadata,
    save_artifacts,
    save_untrained_model,
)
from ml_core.model import build_model
from ml_core.predictor import Predictor
from ml_core.preprocessing import INPUT_SHAPE, PREPROCESSING_VERSION, encode_png, to_model_input

CLASS_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def randomised_model(seed: int = 0):
    """A model whose every weight, batch-norm statistics included, is non-default."""
    model = build_model(INPUT_SHAPE, len(CLASS_NAMES))
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            np.abs(rng.normal(1.0, 0.1, w.shape)).astype(np.float32)
            if "variance" in v.path
            else rng.normal(0, 0.05, w.shape).astype(np.float32)
            for v, w in zip(model.weights, model.get_weights(), strict=True)
        ]
    )
    return model


def metadata(**overrides):
    values = {
        "class_names": CLASS_NAMES,
        "input_shape": INPUT_SHAPE,
        "preprocessing_version": PREPROCESSING_VERSION,
        "metrics": {"accuracy": 0.5},
        "dataset_fingerprint": "f" * 64,
        "training_parameters": {"epochs": 1},
    }
    return build_metadata(**{**values, **overrides})


@pytest.fixture
def saved(tmp_path):
    model = randomised_model()
    directory = save_artifacts(model, tmp_path / "v1", metadata())
    return model, directory


def test_round_trip_gives_identical_probabilities(saved, mini_dataset):
    model, directory = saved
    pixels = mini_dataset.test.images[:50]
    images = to_model_input(pixels)
    expected = np.asarray(model(images, training=False))
    assert np.array_equal(Predictor(directory).predict_pixels(pixels), expected)


def test_predict_returns_top_k_classes_sorted_by_probability(saved, mini_dataset):
    _, directory = saved
    predictor = Predictor(directory)
    images = [encode_png(pixels) for pixels in mini_dataset.test.images[:3]]
    predictions = predictor.predict(images, top_k=3)
    assert len(predictions) == 3
    for prediction in predictions:
        probabilities = [probability for _, probability in prediction.top]
        assert len(prediction.top) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert set(prediction.probabilities) == set(CLASS_NAMES)
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.label == prediction.top[0][0]
        assert prediction.confidence == max(prediction.probabilities.values())


def test_predicting_more_than_one_forward_batch_splits_and_joins_in_order(saved, mini_dataset):
    _, directory = saved
    predictor = Predictor(directory)
    pixels = mini_dataset.test.images[:300]
    together = predictor.predict_pixels(pixels)
    assert together.shape == (300, 10)
    assert np.allclose(together[280:], predictor.predict_pixels(pixels[280:]), atol=1e-6)


def test_metadata_records_what_a_version_needs(saved):
    _, directory = saved
    stored = load_metadata(directory)
    assert stored["class_names"] == CLASS_NAMES
    assert stored["input_shape"] == [32, 32, 3]
    assert stored["preprocessing_version"] == PREPROCESSING_VERSION
    assert {"tensorflow-cpu", "keras", "numpy", "python"} <= set(stored["library_versions"])
    assert stored["created_at"] and stored["dataset_fingerprint"] == "f" * 64
    assert sorted(path.name for path in directory.iterdir()) == ["metadata.json", "model.keras"]


def test_saved_model_holds_no_optimizer_state(tmp_path):
    model = randomised_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, *INPUT_SHAPE)), np.zeros(4), verbose=0)
    directory = save_artifacts(model, tmp_path / "v1", metadata())
    # 1.7 M float32 weights ≈ 6.8 MB; Adam's two moments would triple it.
    assert (directory / "model.keras").stat().st_size < 8_000_000


def test_existing_version_directory_is_never_overwritten(saved):
    model, directory = saved
    with pytest.raises(ArtifactError, match="already exists"):
        save_artifacts(model, directory, metadata())


def test_failed_save_leaves_nothing_behind(tmp_path):
    class Unsaveable:
        def get_config(self):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        save_artifacts(Unsaveable(), tmp_path / "v1", metadata())
    assert list(tmp_path.iterdir()) == []


def test_model_for_another_preprocessing_version_is_refused(saved):
    _, directory = saved
    path = directory / METADATA_FILENAME
    path.write_text(json.dumps({**json.loads(path.read_text()), "preprocessing_version": 999}))
    with pytest.raises(ArtifactError, match="preprocessing version 999"):
        Predictor(directory)


def test_missing_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="metadata file is missing"):
        Predictor(tmp_path)


def test_invalid_image_in_a_batch_raises_before_any_prediction(saved):
    from ml_core.preprocessing import InvalidImageError

    _, directory = saved
    good = io.BytesIO()
    Image.new("RGB", (8, 8)).save(good, format="PNG")
    with pytest.raises(InvalidImageError):
        Predictor(directory).predict([good.getvalue(), b"not an image"])


def test_float_input_is_refused_so_pixels_are_scaled_in_one_place(saved):
    _, directory = saved
    with pytest.raises(ValueError, match="expected uint8 pixels"):
        Predictor(directory).predict_pixels(np.zeros((1, *INPUT_SHAPE), dtype=np.float32))


def test_stored_temperature_calibrates_every_served_probability(saved, tmp_path, mini_dataset):
    model, _ = saved
    calibration = {"method": "temperature", "temperature": 2.5}
    directory = save_artifacts(model, tmp_path / "v2", metadata(calibration=calibration))
    predictor = Predictor(directory)
    pixels = mini_dataset.test.images[:20]
    images = to_model_input(pixels)
    raw = np.asarray(model(images, training=False))
    # softmax(log p / T) is softmax(logits / T): the probabilities the network would
    # give with its logits divided by the temperature.
    expected = np.exp(np.log(raw) / 2.5)
    expected /= expected.sum(axis=1, keepdims=True)
    assert predictor.temperature == 2.5
    assert np.allclose(predictor.predict_pixels(pixels), expected, atol=1e-5)
    assert np.array_equal(predictor.predict_pixels(pixels, calibrated=False), raw)
    served = predictor.predict([encode_png(pixels) for pixels in mini_dataset.test.images[:2]])
    assert served[0].confidence == pytest.approx(float(expected[0].max()), abs=1e-5)


def test_versions_saved_without_calibration_serve_the_network_probabilities(saved, mini_dataset):
    model, directory = saved
    path = directory / METADATA_FILENAME
    stored = json.loads(path.read_text())
    del stored["calibration"]  # as written before calibration existed
    path.write_text(json.dumps(stored))
    pixels = mini_dataset.test.images[:5]
    images = to_model_input(pixels)
    predictor = Predictor(directory)
    assert predictor.temperature == 1.0
    assert np.array_equal(predictor.predict_pixels(pixels), model(images, training=False))


def test_an_impossible_stored_temperature_is_refused(saved, tmp_path):
    model, _ = saved
    directory = save_artifacts(model, tmp_path / "v2", metadata(calibration={"temperature": 0}))
    with pytest.raises(ArtifactError, match="temperature 0.0 is out of range"):
        Predictor(directory)


def test_an_untrained_model_is_saved_as_a_servable_version(tmp_path, mini_dataset):
    directory = save_untrained_model(
        tmp_path / "untrained", ["yes", "no"], dataset_fingerprint="bench",
        calibration={"method": "temperature", "temperature": 2.0},
    )  # fmt: skip
    predictor = Predictor(directory)
    [answer] = predictor.predict([encode_png(mini_dataset.test.images[0])])
    assert set(answer.probabilities) == {"yes", "no"}
    assert sum(answer.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    metadata = load_metadata(directory)
    assert metadata["dataset_fingerprint"] == "bench" and metadata["metrics"] == {}
    assert metadata["calibration"]["temperature"] == 2.0
