import contextlib

import pytest
from django.contrib.auth.models import Permission, User

from jobs import lifecycle
from jobs.models import Job
from tests.api.conftest import client_for
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer(db):
    user = User.objects.create_user("trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_job"))
    return client_for(user)


def test_start_a_retrain_with_parameters(trainer, curated_small):
    response = trainer.post(
        "/api/v1/training-jobs/", {"epochs": 3, "batch_size": 16, "auto_promote": True}
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.status, job.total_epochs, job.total) == ("training", "queued", 3, 200)
    assert job.parameters["auto_promote"] is True and job.parameters["batch_size"] == 16
    assert trainer.get(f"/api/v1/training-jobs/{job.pk}/").json()["status"] == "queued"


def test_recipe_knobs_default_to_the_recipe_and_can_be_set(trainer, curated_small):
    from ml_core.config import TrainingConfig

    default = trainer.post("/api/v1/training-jobs/", {}).json()
    recipe = {**TrainingConfig().to_dict(), "auto_promote": False, "max_train_images": None}
    assert default["parameters"] == recipe
    chosen = {
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "weight_decay": 0.005,
        "learning_rate_schedule": "plateau",
        "warmup_epochs": 0,
        "label_smoothing": 0.0,
        "flip": False,
        "crop_padding": 2,
        "cutout_size": 0,
        "mixup_alpha": 0.2,
    }
    response = trainer.post("/api/v1/training-jobs/", chosen, format="json")
    assert response.status_code == 202, response.content
    assert chosen.items() <= response.json()["parameters"].items()


def test_out_of_range_recipe_knobs_are_400s_naming_each_field(trainer, curated_small):
    response = trainer.post(
        "/api/v1/training-jobs/",
        {
            "optimizer": "rmsprop",
            "learning_rate_schedule": "step",
            "label_smoothing": 0.9,
            "crop_padding": 40,
            "cutout_size": -1,
            "weight_decay": 2,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "optimizer",
        "learning_rate_schedule",
        "label_smoothing",
        "crop_padding",
        "cutout_size",
        "weight_decay",
    }
    assert Job.objects.count() == 0


def test_parameters_are_validated_field_by_field(trainer, curated_small):
    response = trainer.post("/api/v1/training-jobs/", {"epochs": 0, "batch_size": "many"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"epochs", "batch_size"}


def test_nothing_to_train_on_is_a_409(trainer):
    response = trainer.post("/api/v1/training-jobs/", {"epochs": 1})
    assert response.status_code == 409
    assert response.json() == {"detail": "there are no included training images to train on"}


def test_retraining_needs_permission(api, viewer, curated_small):
    assert api.post("/api/v1/training-jobs/", {"epochs": 1}).status_code == 401
    assert viewer.post("/api/v1/training-jobs/", {"epochs": 1}).status_code == 403
    assert Job.objects.count() == 0


def test_cancel_a_queued_job(trainer, curated_small):
    job_id = trainer.post("/api/v1/training-jobs/", {"epochs": 1}).json()["id"]
    response = trainer.post(f"/api/v1/training-jobs/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_evaluate_a_version_starts_an_evaluation_job(trainer):
    ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    response = trainer.post("/api/v1/model-versions/1/evaluate/")
    assert response.status_code == 202
    assert response.json()["kind"] == "evaluation"
    assert response.json()["model_version"] == 1


def test_malformed_json_is_a_json_400(trainer, curated_small):
    response = trainer.generic(
        "POST", "/api/v1/training-jobs/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def failed_job(tmp_path) -> Job:
    """A job failed the way a worker fails it: an exception whose message names a
    server path, recorded by lifecycle.failure_recorded."""
    job = Job.objects.create(kind=Job.Kind.TRAINING, status=Job.Status.RUNNING)
    with contextlib.suppress(FileNotFoundError), lifecycle.failure_recorded(job):
        (tmp_path / "models" / "v3" / "model.keras").read_bytes()
    job.refresh_from_db()
    return job


def test_a_failed_jobs_error_is_short_without_traceback_or_server_paths(api, tmp_path):
    job = failed_job(tmp_path)
    body = api.get(f"/api/v1/training-jobs/{job.pk}/").json()
    assert body["status"] == "failed"
    assert body["error"] == (
        "FileNotFoundError: [Errno 2] No such file or directory: '…/model.keras'"
    )
    assert body["message"] == f"failed: {body['error']}"
    text = str(api.get("/api/v1/training-jobs/").json())
    for leak in ("Traceback", str(tmp_path), __file__, "line "):
        assert leak not in text
    # The traceback is kept, for the log and the admin only.
    assert job.traceback.startswith("Traceback (most recent call last)")
    assert "traceback" not in body


def test_submitter_names_are_shown_to_staff_only(api, trainer, curated_small):
    job_id = trainer.post("/api/v1/training-jobs/", {"epochs": 1}).json()["id"]
    assert Job.objects.get(pk=job_id).submitted_by.username == "trainer"
    staff = client_for(User.objects.create_user("staff", is_staff=True))
    for client, name in [(api, None), (trainer, None), (staff, "trainer")]:
        assert client.get(f"/api/v1/training-jobs/{job_id}/").json()["submitted_by"] == name
        listed = client.get("/api/v1/training-jobs/").json()["results"]
        assert [row["submitted_by"] for row in listed] == [name]


def test_a_knob_outside_the_recipes_bounds_is_refused_by_name(trainer, curated_small):
    response = trainer.post("/api/v1/training-jobs/", {"epochs": 501, "warmup_epochs": -1})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"epochs", "warmup_epochs"}
