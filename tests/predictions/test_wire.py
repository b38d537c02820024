"""predictions.wire: what the web process and an inference worker say to each other
about one image, typed on both sides, in the JSON form it travels in."""

import json

import numpy as np
import pytest

from predictions.wire import (
    PredictionAnswer,
    PredictionFailure,
    PredictionRequest,
    answer_from_message,
    answer_to_message,
)


def request(pixels: np.ndarray) -> PredictionRequest:
    return PredictionRequest(pixels, "predictions/ab/ab.png", "ab" * 32, "cat.png", "api", 7)


def test_a_request_arrives_with_the_exact_pixels_it_was_sent_with():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    message = json.loads(json.dumps(request(pixels).to_message()))  # as Celery sends it
    received = PredictionRequest.from_message(message)
    assert received.pixels.dtype == np.uint8 and np.array_equal(received.pixels, pixels)
    assert (received.image, received.original_name, received.owner_id) == (
        "predictions/ab/ab.png", "cat.png", 7,
    )  # fmt: skip


def test_pixels_of_another_shape_or_type_are_refused_before_sending():
    with pytest.raises(ValueError, match="expected uint8 pixels"):
        request(np.zeros((32, 32, 3), dtype=np.float32)).to_message()
    with pytest.raises(ValueError, match="expected uint8 pixels"):
        request(np.zeros((16, 16, 3), dtype=np.uint8)).to_message()


def test_answers_and_failures_come_back_as_what_they_are():
    answer = PredictionAnswer(12, 3, "cat", 0.75, {"cat": 0.75, "dog": 0.25}, 4)
    failure = PredictionFailure("no model version is in production yet")
    for sent in (answer, failure):
        assert answer_from_message(json.loads(json.dumps(answer_to_message(sent)))) == sent
