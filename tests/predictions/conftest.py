import pytest

from ml_core.preprocessing import encode_png
from predictions import batch


@pytest.fixture(autouse=True)
def storage_per_test(isolated_storage):
    """Every test here writes media and model artefacts under its own folder."""


@pytest.fixture(scope="module")
def inference_worker(start_worker):
    return start_worker()


def uploads(mini_dataset, count: int) -> list[batch.UploadedImage]:
    """The first `count` test-split images as uploads named test-<index>.png."""
    return [
        batch.UploadedImage(f"test-{index}.png", encode_png(pixels))
        for index, pixels in enumerate(mini_dataset.test.images[:count])
    ]
