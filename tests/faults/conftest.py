"""The fault suite: the service on private Redis and PostgreSQL (harness.deployment),
driven over HTTP; each test kills or restarts one part and checks what was stored."""

import io

import pytest
import requests

from harness.deployment import Deployment
from harness.postgres import PrivatePostgres
from harness.redis_server import PrivateRedis
from ml_core.preprocessing import encode_png
from tests.workers import train_fixture_model

pytestmark = pytest.mark.faults


@pytest.fixture(scope="session")
def fault_model(tmp_path_factory, small_dataset) -> dict:
    """One trained model for every deployment of the suite."""
    models_dir = tmp_path_factory.mktemp("fault-models")
    return {**train_fixture_model(models_dir, small_dataset), "models_dir": models_dir}


@pytest.fixture(scope="session")
def private_services(tmp_path_factory):
    """One private Redis and PostgreSQL cluster for the suite; tests may kill them."""
    services = PrivateRedis(tmp_path_factory.mktemp("redis")), PrivatePostgres()
    yield services
    services[0].stop()
    services[1].destroy()


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory, fault_model, private_services):
    """A deployment per test module; a module's DEPLOYMENT_SETTINGS override settings."""
    settings = {"BATCH_JOB_CHUNK_SIZE": "4", **getattr(request.module, "DEPLOYMENT_SETTINGS", {})}
    folder = tmp_path_factory.mktemp("deployment")
    service = Deployment(folder, fault_model, private_services, **settings)
    yield service
    service.stop()


def post_batch(deployment: Deployment, images) -> requests.Response:
    files = [("images", (f"{index}.png", io.BytesIO(encode_png(pixels)), "image/png"))
             for index, pixels in enumerate(images)]  # fmt: skip
    return requests.post(f"{deployment.base_url}/api/v1/batch-jobs/", files=files, timeout=120)


def submit_batch(deployment: Deployment, images) -> int:
    response = post_batch(deployment, images)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def assert_every_image_has_exactly_one_prediction(deployment: Deployment, job_id: int) -> None:
    job = deployment.job(job_id)
    assert job["status"] == "succeeded", job
    counts = deployment.predictions_per_item(job_id)
    assert len(counts) == job["total"] == job["processed"]
    assert set(counts.values()) == {1}, {p: n for p, n in counts.items() if n != 1}
