"""Migration 0006: snapshots written before it (image ids of the train split only)
get their label and split from the images as they are, and a training job that has
not run yet gets the included test split of now, so it can still run."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("training", "0005_job_access_key_and_traceback")]
AFTER = [("training", "0006_snapshot_label_and_split")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_schema_afterwards(transactional_db):
    """Every app back at its latest migration for the tests that follow."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_old_snapshots_are_filled_from_the_images_and_unfinished_jobs_get_a_test_set(
    latest_schema_afterwards,
):
    apps = migrate(BEFORE)
    TrainingImage = apps.get_model("training", "TrainingImage")
    Job = apps.get_model("training", "Job")
    JobTrainingImage = apps.get_model("training", "JobTrainingImage")
    ModelVersion = apps.get_model("training", "ModelVersion")
    ModelVersionTrainingImage = apps.get_model("training", "ModelVersionTrainingImage")
    images = {
        name: TrainingImage.objects.create(
            image=f"training/{name}.png", sha256=name * 64, label=label, split=split,
            source="upload", status=status,
        )
        for name, label, split, status in [
            ("a", "cat", "train", "included"),
            ("b", "dog", "train", "included"),
            ("c", "cat", "test", "included"),
            ("d", "dog", "test", "excluded"),
        ]
    }  # fmt: skip
    queued = Job.objects.create(kind="training", status="queued")
    done = Job.objects.create(kind="training", status="succeeded")
    for job in (queued, done):
        for name in "ab":
            JobTrainingImage.objects.create(job=job, training_image=images[name])
    version = ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    ModelVersionTrainingImage.objects.create(model_version=version, training_image=images["a"])

    apps = migrate(AFTER)
    JobTrainingImage = apps.get_model("training", "JobTrainingImage")
    ModelVersionTrainingImage = apps.get_model("training", "ModelVersionTrainingImage")
    rows = set(JobTrainingImage.objects.values_list("job_id", "training_image__sha256", "label",
                                                     "split"))  # fmt: skip
    a, b, c = (images[name].sha256 for name in "abc")
    assert rows == {
        (queued.pk, a, "cat", "train"), (queued.pk, b, "dog", "train"),
        (queued.pk, c, "cat", "test"),  # the included test split, for the job to come
        (done.pk, a, "cat", "train"), (done.pk, b, "dog", "train"),
    }  # fmt: skip
    assert list(ModelVersionTrainingImage.objects.values_list("label", "split")) == [
        ("cat", "train")
    ]
