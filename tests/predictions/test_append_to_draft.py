"""predictions.batch: appending to a draft from concurrent requests, and drafts that
expire. Real database (committed: the appends run in threads of their own)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from jobs import recovery
from jobs.models import Job
from predictions import batch, drafts
from predictions.models import BatchItem, BatchPart
from tests.predictions.conftest import uploads

THREADS = 4
PARTS = 12
PER_PART = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_positions_unique_and_contiguous(mini_dataset):
    job = drafts.create_draft()
    images = uploads(mini_dataset, PER_PART)
    start = threading.Barrier(THREADS)

    def send(part: int) -> drafts.Appended:
        try:
            if part < THREADS:
                start.wait(timeout=30)
            # Every part sent twice, the copies racing each other: one of each is stored.
            return drafts.append_to_draft(Job.objects.get(pk=job.pk), images, f"p{part // 2}")
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, range(2 * PARTS)))

    positions = sorted(BatchItem.objects.filter(job=job).values_list("position", flat=True))
    assert positions == list(range(PARTS * PER_PART))
    assert Job.objects.get(pk=job.pk).total == PARTS * PER_PART
    assert sum(not answer.duplicate for answer in answers) == PARTS
    firsts = sorted(BatchPart.objects.filter(job=job).values_list("first", flat=True))
    assert firsts == list(range(0, PARTS * PER_PART, PER_PART))


@pytest.mark.django_db
def test_the_sweep_deletes_drafts_left_untouched_with_their_files(mini_dataset, settings):
    settings.BATCH_DRAFT_EXPIRE_HOURS = 1
    old, fresh = drafts.create_draft(), drafts.create_draft()
    drafts.append_to_draft(old, uploads(mini_dataset, 2), "0")
    drafts.append_to_draft(fresh, uploads(mini_dataset, 3)[2:], "0")
    names = set(BatchItem.objects.filter(job=old).values_list("image", flat=True))
    Job.objects.filter(pk=old.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    # Stale for a running job, but a draft runs nothing: the sweep does not re-queue it.
    Job.objects.filter(pk=fresh.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    assert recovery.recover_stale_jobs() == {"expired": 1}
    assert not Job.objects.filter(pk=old.pk).exists()
    assert not BatchItem.objects.filter(job_id=old.pk).exists()
    assert not any(default_storage.exists(name) for name in names)
    fresh.refresh_from_db()
    assert (fresh.status, fresh.attempts, fresh.message) == ("draft", 0, "draft: 1 images received")
    assert BatchItem.objects.filter(job=fresh).count() == 1


@pytest.mark.django_db
def test_a_file_shared_with_another_job_stays_when_a_draft_goes(mini_dataset, django_user_model):
    # One user's copies of one image share a file (an anonymous request's never do).
    user = django_user_model.objects.create_user("owner")
    kept, dropped = drafts.create_draft(user), drafts.create_draft(user)
    same = uploads(mini_dataset, 1)
    drafts.append_to_draft(kept, same)
    drafts.append_to_draft(dropped, same)
    (name,) = BatchItem.objects.filter(job=dropped).values_list("image", flat=True)
    batch.delete_draft(dropped)
    assert default_storage.exists(name)
    assert BatchItem.objects.get(job=kept).image.name == name
