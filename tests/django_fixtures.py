"""Fixtures for tests that use Django: isolated media and model folders, curated data."""

import hashlib

import pytest

from ml_core.datasets import CifarDataset
from training.imports import ImportSummary, import_cifar_dataset


@pytest.fixture
def isolated_storage(settings, tmp_path):
    """Every test writes media and model artefacts under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELS_DIR = tmp_path / "models"


@pytest.fixture
def curated_small(db, small_dataset: CifarDataset) -> ImportSummary:
    """The small dataset imported as TrainingImage rows (200 train, 80 test)."""
    return import_cifar_dataset(small_dataset)


@pytest.fixture
def own_rate_limit_counters(settings, request):
    """The rate-limit cache on the tests' Redis, under a prefix of this test's own."""
    from tests.workers import KEY_PREFIX, TEST_REDIS_URL

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"{KEY_PREFIX}{hashlib.sha256(request.node.nodeid.encode()).hexdigest()}",
            "TIMEOUT": 600,
        }
    }
