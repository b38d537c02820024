"""The migrations of the privacy change keep what is stored: a failed job's traceback
moves out of the API's `error` (not lost), and batch predictions get their job's
submitter as owner (single ones, of unknown owner, become staff-only)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("training", "0004_visualization_model_version"), ("predictions", "0002_batch_items")]
AFTER = [
    ("training", "0005_job_access_key_and_traceback"),
    ("predictions", "0003_prediction_owner"),
]
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/training/retraining.py", line 80, in run_training\n'
    "FileNotFoundError: [Errno 2] No such file or directory: '/srv/models/v3/model.keras'\n"
)


def migrate(targets) -> "object":
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_tracebacks_leave_the_api_and_batch_predictions_get_their_submitter():
    apps = migrate(BEFORE)
    try:
        User = apps.get_model("auth", "User")
        Job = apps.get_model("training", "Job")
        owner = User.objects.create(username="owner")
        failed = Job.objects.create(
            kind="training", status="failed", error=TRACEBACK, message="failed: ..."
        )
        batch = Job.objects.create(kind="batch_inference", submitted_by=owner)
        version = apps.get_model("training", "ModelVersion").objects.create(
            number=1, artifact_path="v1", dataset_fingerprint="0"
        )
        item = apps.get_model("predictions", "BatchItem").objects.create(
            job=batch, position=0, image="x.png", pixels=b""
        )
        Prediction = apps.get_model("predictions", "Prediction")
        common = {"image": "x.png", "image_sha256": "0", "top_label": "cat", "confidence": 0.5,
                  "probabilities": {}, "model_version": version}  # fmt: skip
        in_batch = Prediction.objects.create(source="batch", batch_item=item, **common)
        single = Prediction.objects.create(source="api", **common)

        apps = migrate(AFTER)
        failed = apps.get_model("training", "Job").objects.get(pk=failed.pk)
        assert failed.traceback == TRACEBACK
        assert failed.error == (
            "FileNotFoundError: [Errno 2] No such file or directory: '…/model.keras'"
        )
        assert failed.message == f"failed: {failed.error}"
        Prediction = apps.get_model("predictions", "Prediction")
        assert Prediction.objects.get(pk=in_batch.pk).owner_id == owner.pk
        assert Prediction.objects.get(pk=single.pk).owner_id is None
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
