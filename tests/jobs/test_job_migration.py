"""The move of Job from the training app to the jobs app keeps every row and every
reference to it (same table), and the permissions granted on jobs stay granted."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("training", "0006_snapshot_label_and_split"),
    ("predictions", "0003_prediction_owner"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("jobs", None),  # not there yet
]
AFTER = [("training", "0007_job_moved_to_jobs_app"), ("jobs", "0001_job_from_training")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([node for node in targets if node[1]]).apps


@pytest.fixture
def latest_schema_afterwards(transactional_db):
    """Every app back at its latest migration for the tests that follow."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_jobs_their_references_and_their_permissions_survive_the_move(latest_schema_afterwards):
    apps = migrate(BEFORE)
    Job = apps.get_model("training", "Job")
    User = apps.get_model("auth", "User")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    job_type, _ = ContentType.objects.get_or_create(app_label="training", model="job")
    may_retrain, _ = Permission.objects.get_or_create(
        content_type=job_type, codename="add_job", defaults={"name": "Can add job"}
    )
    trainer = User.objects.create(username="trainer")
    trainer.user_permissions.add(may_retrain)
    image = apps.get_model("training", "TrainingImage").objects.create(
        image="training/a.png", sha256="a" * 64, label="cat", source="upload"
    )
    training = Job.objects.create(kind="training", status="running", submitted_by=trainer)
    apps.get_model("training", "JobTrainingImage").objects.create(
        job=training, training_image=image, label="cat", split="train"
    )
    version = apps.get_model("training", "ModelVersion").objects.create(
        number=1, artifact_path="v1", dataset_fingerprint="0", job=training
    )
    batch = Job.objects.create(kind="batch_inference", model_version=version)
    apps.get_model("predictions", "BatchItem").objects.create(
        job=batch, position=0, image="x.png", pixels=b""
    )

    apps = migrate(AFTER)
    Job = apps.get_model("jobs", "Job")
    assert Job._meta.db_table == "training_job"
    moved = Job.objects.get(pk=training.pk)
    assert (moved.kind, moved.status, moved.submitted_by_id) == ("training", "running", trainer.pk)
    assert apps.get_model("training", "ModelVersion").objects.get(pk=version.pk).job_id == moved.pk
    snapshot = apps.get_model("training", "JobTrainingImage").objects.get()
    assert snapshot.job_id == moved.pk
    item = apps.get_model("predictions", "BatchItem").objects.get()
    assert item.job.model_version_id == version.pk
    job_type = apps.get_model("contenttypes", "ContentType").objects.get(model="job")
    assert job_type.app_label == "jobs"
    granted = apps.get_model("auth", "Permission").objects.filter(user__username="trainer")
    assert list(granted.values_list("content_type__app_label", "codename")) == [("jobs", "add_job")]
