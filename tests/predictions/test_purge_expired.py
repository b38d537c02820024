"""predictions.tasks.purge_expired, as celery beat queues it (by name, to the batch
queue), run by a real worker: the same service as `manage.py purge`, then the disk
use the overview shows."""

import os
import time
from datetime import timedelta

from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone

from classifier_site import disk_usage
from classifier_site.celery import send
from classifier_site.media_store import store_image_file
from harness.helpers import wait_until
from ml_core.preprocessing import encode_png
from predictions.models import Prediction
from tests.workers import JOB_TEST, KEY_PREFIX, TEST_REDIS_URL
from training.models import ModelVersion

pytestmark = JOB_TEST


def test_beat_schedules_the_purge_by_name():
    entry = django_settings.CELERY_BEAT_SCHEDULE["purge-expired-data"]
    assert entry == {
        "task": "predictions.tasks.purge_expired",
        "schedule": django_settings.RETENTION_INTERVAL_SECONDS,
    }


def test_the_scheduled_task_purges_and_measures_disk_use(settings, start_worker, mini_dataset):
    # The cache the worker writes to: the tests' Redis, under this run's prefix.
    settings.CACHES = {
        "default": {
            "BACKEND": "classifier_site.cache.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": KEY_PREFIX,
        }
    }
    cache.delete(disk_usage.CACHE_KEY)
    start_worker("purge", queues="batch", RETAIN_PREDICTIONS_DAYS="30")
    version = ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    name, _ = store_image_file("predictions", encode_png(mini_dataset.test.images[0]), "PNG", "u")
    hours_ago = time.time() - 2 * 3600
    os.utime(default_storage.path(name), (hours_ago, hours_ago))
    old = Prediction.objects.create(
        image=name, image_sha256="0" * 64, top_label="cat", confidence=0.5,
        probabilities={"cat": 0.5}, model_version=version, source="api",
    )  # fmt: skip
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    send("predictions.tasks.purge_expired")
    wait_until(lambda: disk_usage.latest() is not None, timeout=60)
    assert not Prediction.objects.exists()
    assert not default_storage.exists(name)
    usage = disk_usage.latest()
    assert set(usage) == {"media", "models", "measured_at"}
    assert usage["media"]["files"] >= 0 and usage["models"]["bytes"] >= 0
