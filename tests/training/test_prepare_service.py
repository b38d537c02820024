from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job
from tests.workers import TEST_REDIS_URL, clear_queues, queued_tasks
from training.models import ModelVersion


@pytest.fixture(autouse=True)
def test_redis(settings, isolated_storage):
    settings.REDIS_URL = TEST_REDIS_URL


def prepare(*args) -> str:
    output = StringIO()
    call_command("prepare_service", "--base-url", "http://example.test", *args, stdout=output,
                 stderr=StringIO())  # fmt: skip
    return output.getvalue()


@pytest.mark.django_db(transaction=True)
def test_first_start_imports_the_dataset_and_queues_one_promoting_training_job(mini_archive):
    clear_queues("training")  # what earlier tests left there
    first = prepare("--archive", str(mini_archive))
    job = Job.objects.get(kind=Job.Kind.TRAINING)
    assert "Imported 5085 new images" in first
    assert f"queued training job {job.pk}" in first
    assert f"http://example.test/api/v1/training-jobs/{job.pk}/" in first
    assert job.status == Job.Status.QUEUED and job.parameters["auto_promote"] is True
    assert job.total == 4068
    # The import also queues a redraw of the dataset plots on the same queue.
    assert queued_tasks("training").count("training.tasks.run_training_job") == 1

    second = prepare("--archive", str(mini_archive))
    assert "5085 already present" in second
    assert f"Training job {job.pk} is queued" in second
    assert Job.objects.filter(kind=Job.Kind.TRAINING).count() == 1
    assert queued_tasks("training").count("training.tasks.run_training_job") == 1
    clear_queues("training", "inference")  # no later test's worker takes them


@pytest.mark.django_db
def test_without_a_dataset_it_says_where_to_put_one_and_queues_nothing(tmp_path):
    output = prepare("--archive", str(tmp_path / "missing.tar.gz"))
    assert f"No dataset at {tmp_path / 'missing.tar.gz'}" in output
    assert "import_cifar --download" in output
    assert "no training images" in output
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_an_existing_model_version_means_no_first_training(tmp_path, curated_small):
    ModelVersion.objects.create(number=1, artifact_path="v1", class_names=["a"])
    prepare("--archive", str(tmp_path / "missing.tar.gz"))
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_no_redis_fails_naming_the_address_but_not_its_password(settings):
    settings.REDIS_URL = "redis://:hunter2@127.0.0.1:1/0"
    with pytest.raises(CommandError) as raised:
        prepare("--redis-timeout", "0.3")
    assert "redis://:***@127.0.0.1:1/0" in str(raised.value)
    assert "hunter2" not in str(raised.value)
