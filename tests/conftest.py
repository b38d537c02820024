"""Shared fixtures. The CIFAR-10 mini archive is the test data (docs/development.md, "Tests")."""

import os
from pathlib import Path

import pytest

from ml_core.datasets import CifarDataset, ImageArrays, load_cifar

pytest_plugins = ["tests.django_fixtures", "tests.workers"]

TEST_ARCHIVE_VARIABLE = "CIFAR_TEST_ARCHIVE"
DEFAULT_TEST_ARCHIVE = (
    Path(__file__).resolve().parent.parent / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz"
)


@pytest.fixture(scope="session")
def mini_archive() -> Path:
    path = Path(os.environ.get(TEST_ARCHIVE_VARIABLE, DEFAULT_TEST_ARCHIVE))
    if not path.is_file():
        pytest.fail(
            f"test data missing: {path} does not exist. Run `make test-data` or set "
            f"{TEST_ARCHIVE_VARIABLE} to the cifar-10-mini archive."
        )
    return path


@pytest.fixture(scope="session")
def mini_dataset(mini_archive: Path) -> CifarDataset:
    return load_cifar(mini_archive)


def first_per_class(arrays: ImageArrays, per_class: int) -> ImageArrays:
    """The first `per_class` images of every class, in archive order."""
    chosen = [
        index
        for label in sorted(set(arrays.labels.tolist()))
        for index in (arrays.labels == label).nonzero()[0][:per_class]
    ]
    chosen.sort()
    return ImageArrays(images=arrays.images[chosen], labels=arrays.labels[chosen])


@pytest.fixture(scope="session")
def small_dataset(mini_dataset: CifarDataset) -> CifarDataset:
    """20 training and 8 test images per class: enough to train one quick epoch."""
    return CifarDataset(
        class_names=mini_dataset.class_names,
        train=first_per_class(mini_dataset.train, 20),
        test=first_per_class(mini_dataset.test, 8),
        train_batch_count=1,
    )
