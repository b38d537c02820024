import keras
import numpy as np

from ml_core.model import BLOCK_FILTERS, build_model, count_flops

# The reference architecture's budget (issue 8): nothing costlier is served.
MAX_PARAMETERS = 1_800_000
MAX_MEGAFLOPS = 107


def test_model_maps_images_to_class_probabilities():
    model = build_model((32, 32, 3), 10)
    probabilities = model(np.random.default_rng(0).random((4, 32, 32, 3)), training=False)
    assert probabilities.shape == (4, 10)
    assert np.allclose(np.asarray(probabilities).sum(axis=1), 1.0, atol=1e-5)


def test_model_is_four_convolution_blocks_of_32_to_256_filters_with_batch_norm():
    model = build_model((32, 32, 3), 10)
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
    filters = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert filters == [32, 32, 64, 64, 128, 128, 256, 256]
    assert BLOCK_FILTERS == (32, 64, 128, 256)
    batch_norms = [
        layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(batch_norms) == 9
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 4
    dropout_rates = [
        layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert len(dropout_rates) == 5 and all(0.25 <= rate <= 0.5 for rate in dropout_rates)


def test_model_stays_within_the_reference_cost():
    model = build_model((32, 32, 3), 10)
    assert model.count_params() <= MAX_PARAMETERS
    assert count_flops(model) <= MAX_MEGAFLOPS * 1_000_000


def test_flop_count_matches_the_hand_computed_sum():
    model = build_model((32, 32, 3), 10)
    convolutions = [  # (output side, input channels, output channels)
        (32, 3, 32), (32, 32, 32), (16, 32, 64), (16, 64, 64),
        (8, 64, 128), (8, 128, 128), (4, 128, 256), (4, 256, 256),
    ]  # fmt: skip
    expected = sum(2 * side * side * 9 * inputs * outputs for side, inputs, outputs in convolutions)
    expected += 2 * (2 * 2 * 256) * 512 + 2 * 512 * 10
    assert count_flops(model) == expected


def test_number_of_classes_sets_the_output_width():
    assert build_model((32, 32, 3), 3).output_shape == (None, 3)
