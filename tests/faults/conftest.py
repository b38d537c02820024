"""The fault suite: the service on private Redis and PostgreSQL (tests/faults/services.py),
driven over HTTP; each test kills or restarts one part and checks what was stored."""

import io

import pytest
import requests

from ml_core.preprocessing import encode_png
from tests.faults.services import Deployment
from tests.workers import train_fixture_model

pytestmark = pytest.mark.faults


@pytest.fixture(scope="session")
def fault_model(tmp_path_factory, small_dataset) -> dict:
    """One trained model for every deployment of the suite."""
    models_dir = tmp_path_factory.mktemp("fault-models")
    return {**train_fixture_model(models_dir, small_dataset), "models_dir": models_dir}


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory, fault_model):
    """A deployment per test module; a module's DEPLOYMENT_SETTINGS override settings."""
    artifacts = fault_model
    settings = {"BATCH_JOB_CHUNK_SIZE": "4", **getattr(request.module, "DEPLOYMENT_SETTINGS", {})}
    service = Deployment(tmp_path_factory.mktemp("deployment"), artifacts, **settings)
    yield service
    service.stop()


def submit_batch(deployment: Deployment, images) -> int:
    files = [("images", (f"{index}.png", io.BytesIO(encode_png(pixels)), "image/png"))
             for index, pixels in enumerate(images)]  # fmt: skip
    response = requests.post(f"{deployment.base_url}/api/v1/batch-jobs/", files=files, timeout=120)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def assert_every_image_has_exactly_one_prediction(deployment: Deployment, job_id: int) -> None:
    job = deployment.job(job_id)
    assert job["status"] == "succeeded", job
    counts = deployment.predictions_per_item(job_id)
    assert len(counts) == job["total"] == job["processed"]
    assert set(counts.values()) == {1}, {p: n for p, n in counts.items() if n != 1}
