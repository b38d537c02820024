"""predictions.retention and the `purge` command: rows and their files go together,
a file several rows name stays until the last goes, a dry run deletes nothing, and
training images, running jobs and fresh data are left alone."""

import io
import json
import os
import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from classifier_site.media_store import store_image_file
from jobs.models import Job, JobChunk
from ml_core.preprocessing import encode_png
from predictions import retention
from predictions.models import BatchItem, Prediction
from training.models import ModelVersion, TrainingImage

# Committed rows: files are deleted once the deletion of their rows has committed.
pytestmark = pytest.mark.django_db(transaction=True)

OLD = timedelta(days=40)
HOURS_AGO = 2 * 3600  # past the guard that keeps a file an upload just used


@pytest.fixture(autouse=True)
def retention_off(settings):
    """Each test turns on the retention it shows."""
    settings.RETAIN_BATCH_JOBS_DAYS = 0
    settings.RETAIN_BATCH_INPUTS_DAYS = 0
    settings.RETAIN_PREDICTIONS_DAYS = 0


@pytest.fixture
def version(db):
    return ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")


def stored(mini_dataset, index: int, scope: str = "user:1", folder: str = "predictions") -> str:
    """An image stored as uploads are, its file last used a while ago."""
    name, _ = store_image_file(folder, encode_png(mini_dataset.test.images[index]), "PNG", scope)
    age(name, HOURS_AGO)
    return name


def age(name: str, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(default_storage.path(name), (when, when))


def exists(name: str) -> bool:
    return default_storage.exists(name)


def prediction(version, name: str, old: bool = False, **fields) -> Prediction:
    row = Prediction.objects.create(
        image=name, image_sha256="0" * 64, top_label="cat", confidence=0.5,
        probabilities={"cat": 0.5}, model_version=version, **{"source": "api", **fields},
    )  # fmt: skip
    if old:
        Prediction.objects.filter(pk=row.pk).update(created_at=timezone.now() - OLD)
    return row


def test_old_single_predictions_go_with_their_files(settings, version, mini_dataset):
    settings.RETAIN_PREDICTIONS_DAYS = 30
    old = prediction(version, stored(mini_dataset, 0), old=True)
    new = prediction(version, stored(mini_dataset, 1))
    report = retention.purge()
    assert not Prediction.objects.filter(pk=old.pk).exists()
    assert not exists(old.image.name)
    assert Prediction.objects.filter(pk=new.pk).exists() and exists(new.image.name)
    assert (report.rows["prediction"], report.files) == (1, 1)
    assert report.file_bytes > 0


def test_nothing_is_deleted_while_retention_is_zero(version, mini_dataset):
    old = prediction(version, stored(mini_dataset, 0), old=True)
    retention.purge()
    assert Prediction.objects.filter(pk=old.pk).exists() and exists(old.image.name)


def test_a_file_named_by_two_rows_stays_until_the_last_goes(settings, version, mini_dataset):
    """The same image uploaded twice by one user: one file, two predictions."""
    settings.RETAIN_PREDICTIONS_DAYS = 30
    name = stored(mini_dataset, 0)
    assert stored(mini_dataset, 0) == name
    old, new = prediction(version, name, old=True), prediction(version, name)
    retention.purge()
    assert not Prediction.objects.filter(pk=old.pk).exists()
    assert exists(name)  # the newer prediction still shows it
    Prediction.objects.filter(pk=new.pk).update(created_at=timezone.now() - OLD)
    retention.purge()
    assert not Prediction.objects.exists() and not exists(name)


def test_a_file_a_training_image_names_is_never_deleted(settings, version, mini_dataset):
    settings.RETAIN_PREDICTIONS_DAYS = 30
    name = stored(mini_dataset, 0)
    prediction(version, name, old=True)
    TrainingImage.objects.create(image=name, sha256="1" * 64, label="cat", source="prediction")
    retention.purge()
    assert not Prediction.objects.exists()
    assert exists(name)
    assert TrainingImage.objects.count() == 1


def test_rows_go_in_bounded_batches_until_none_is_left(settings, version, mini_dataset):
    settings.RETAIN_PREDICTIONS_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 2
    names = [stored(mini_dataset, index) for index in range(5)]
    for name in names:
        prediction(version, name, old=True)
    report = retention.purge()
    assert (report.rows["prediction"], report.files) == (5, 5)
    assert not any(exists(name) for name in names)


def test_a_dry_run_deletes_nothing_and_says_what_it_would(settings, version, mini_dataset):
    settings.RETAIN_PREDICTIONS_DAYS = 30
    shared = stored(mini_dataset, 0)
    prediction(version, shared, old=True)
    prediction(version, shared)  # keeps the file
    alone = stored(mini_dataset, 1)
    prediction(version, alone, old=True)
    output = io.StringIO()
    call_command("purge", "--dry-run", "--json", stdout=output)
    counts = json.loads(output.getvalue())
    assert counts["dry_run"] is True
    assert counts["rows"] == {"prediction": 2}
    assert (counts["files"], counts["file_bytes"]) == (1, default_storage.size(alone))
    assert Prediction.objects.count() == 3 and exists(shared) and exists(alone)
    output = io.StringIO()
    call_command("purge", "--dry-run", stdout=output)
    assert "would delete 2 prediction rows" in output.getvalue()
    call_command("purge", stdout=io.StringIO())  # and the real run deletes what it said
    assert Prediction.objects.count() == 1 and exists(shared) and not exists(alone)


def finished_batch_job(version, mini_dataset, status: str = "succeeded") -> Job:
    """A batch job finished 40 days ago: three items, the first two predicted, in two
    chunk rows (jobs.scheduling's)."""
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, status=status, total=3, model_version=version,
        finished_at=timezone.now() - OLD,
    )  # fmt: skip
    JobChunk.objects.create(job=job, start=0, stop=2, state=JobChunk.State.DONE)
    JobChunk.objects.create(job=job, start=2, stop=3)
    for position in range(3):
        name = stored(
            mini_dataset,
            (10 + position + 10 * job.pk) % len(mini_dataset.test.images),
            folder="uploads",
        )
        item = BatchItem.objects.create(
            job=job, position=position, image=name, image_sha256="0" * 64, pixels=b"x" * 3072
        )
        if position < 2:
            prediction(version, name, batch_item=item, source="batch")
    return job


def test_batch_inputs_lose_their_pixels_and_unpredicted_items(settings, version, mini_dataset):
    settings.RETAIN_BATCH_INPUTS_DAYS = 30
    job = finished_batch_job(version, mini_dataset, status="cancelled")
    unpredicted = BatchItem.objects.get(job=job, position=2)
    report = retention.purge()
    assert not BatchItem.objects.filter(pk=unpredicted.pk).exists()
    assert not exists(unpredicted.image.name)
    kept = BatchItem.objects.filter(job=job)
    assert [bytes(item.pixels) for item in kept] == [b"", b""]
    assert all(exists(item.image.name) for item in kept)  # the results' images
    assert Prediction.objects.filter(batch_item__job=job).count() == 2
    assert (report.pixels_cleared, report.pixel_bytes) == (2, 2 * 3072)
    job.refresh_from_db()
    assert job.inputs_purged_at is not None
    assert retention.purge().pixels_cleared == 0  # done once per job


def test_old_batch_jobs_go_whole_and_unfinished_ones_stay(settings, version, mini_dataset):
    settings.RETAIN_BATCH_JOBS_DAYS = 30
    job = finished_batch_job(version, mini_dataset)
    names = list(BatchItem.objects.filter(job=job).values_list("image", flat=True))
    running = finished_batch_job(version, mini_dataset)
    Job.objects.filter(pk=running.pk).update(status="running", finished_at=None)
    expected = {"batch item": 3, "prediction": 2, "batch job": 1, "job chunk": 2}
    assert retention.purge(dry_run=True).rows == expected  # counts what cascades too
    report = retention.purge()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not BatchItem.objects.filter(job_id=job.pk).exists()
    assert not any(exists(name) for name in names)
    assert report.rows == expected
    assert not JobChunk.objects.filter(job_id=job.pk).exists()  # they cascade with the job
    assert BatchItem.objects.filter(job=running).count() == 3
    assert JobChunk.objects.filter(job=running).count() == 2


def test_orphan_files_older_than_the_grace_period_are_swept(settings, version, mini_dataset):
    settings.RETAIN_ORPHAN_GRACE_HOURS = 24
    orphan = stored(mini_dataset, 0, folder="uploads")
    age(orphan, 25 * 3600)
    fresh_orphan = stored(mini_dataset, 1, folder="uploads")
    named = stored(mini_dataset, 2)
    age(named, 25 * 3600)
    prediction(version, named)
    dry = retention.purge(dry_run=True)
    assert (dry.orphan_files, exists(orphan)) == (1, True)
    report = retention.purge()
    assert report.orphan_files == 1
    assert not exists(orphan)
    assert exists(fresh_orphan) and exists(named)


def test_a_file_an_upload_just_reused_is_kept(settings, version, mini_dataset):
    """An upload reusing a stored copy marks it in use before its row commits; a purge
    meanwhile keeps the file (a later sweep takes it if no row ever names it)."""
    settings.RETAIN_PREDICTIONS_DAYS = 30
    name = stored(mini_dataset, 0)
    prediction(version, name, old=True)
    again, _ = store_image_file(
        "predictions", encode_png(mini_dataset.test.images[0]), "PNG", "user:1"
    )
    assert again == name
    assert time.time() - os.stat(default_storage.path(name)).st_mtime < 60
    retention.purge()
    assert not Prediction.objects.exists()
    assert exists(name)
