"""A client generated from the live schema by openapi-python-client (nothing generated
is committed) drives a single prediction, a batch job and a retrain against the live
server and real workers: the schema is enough to use the API, its nulls included."""

import importlib
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from tests.api.schemathesis_hooks import png
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST

PACKAGE = "classifier_client"
# No post hooks: the generated code is imported, never committed or linted.
GENERATOR_CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"
FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package generated from the schema the live server serves; a
    warning from the generator (a part of the schema it cannot express) fails."""
    schema = tmp_path / "schema.json"
    schema.write_bytes(httpx.get(f"{live_server.url}/api/schema/?format=json").content)
    config = tmp_path / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    command = [
        str(Path(sys.executable).with_name("openapi-python-client")),
        "generate",
        f"--path={schema}",
        "--meta=none",
        f"--output-path={tmp_path / PACKAGE}",
        f"--config={config}",
        "--fail-on-warning",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def client(generated, live_server, start_worker, trained_artifacts, curated_small):
    """A superuser's client; a production model, an inference and a training worker."""
    start_worker("client-inference")
    start_worker("client-training", queues="training", prefetch=1)
    register_version(trained_artifacts, 1)
    user = User.objects.create_superuser("client", password="not-used-here")
    token = Token.objects.create(user=user).key
    return generated("client").AuthenticatedClient(
        base_url=live_server.url, token=token, prefix="Token", timeout=httpx.Timeout(120)
    )


def upload(generated, name: str, shade: int):
    return generated("types").File(
        payload=io.BytesIO(png(32, 32, shade)), file_name=name, mime_type="image/png"
    )


def poll(retrieve, client, job_id: int, seconds: float):
    """The job, through the generated client, once it has finished."""
    deadline = time.monotonic() + seconds
    while True:
        job = retrieve.sync(job_id, client=client)
        if str(job.status) in FINISHED or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_a_generated_client_predicts_runs_a_batch_job_and_retrains(generated, client):
    models = generated("models")

    predict = generated("api.predict.predict_create")
    body = models.PredictRequestRequest(image=upload(generated, "one.png", 10), top_k=2)
    answer = predict.sync(client=client, body=body)
    assert isinstance(answer, models.PredictResponse), answer
    assert len(answer.top) == 2 and answer.label in answer.probabilities.additional_properties

    batch = generated("api.batch_jobs")
    images = [upload(generated, f"{index}.png", index * 40) for index in range(3)]
    body = models.BatchJobRequestRequest(images=images)
    created = generated("api.batch_jobs.batch_jobs_create").sync(client=client, body=body)
    assert isinstance(created, models.BatchJobCreated), created
    # Null until a worker takes it, and for a signed-in caller: the client reads both.
    assert created.access_key is None
    retrieve = importlib.import_module(f"{batch.__name__}.batch_jobs_retrieve")
    job = poll(retrieve, client, created.id, seconds=120)
    assert str(job.status) == "succeeded", job
    results_module = importlib.import_module(f"{batch.__name__}.batch_jobs_results_retrieve")
    results = results_module.sync(created.id, client=client)
    assert isinstance(results, models.BatchJobResults), results
    assert [row.original_name for row in results.results] == ["0.png", "1.png", "2.png"]
    assert all(row.label for row in results.results)

    request = models.TrainingJobRequestRequest(
        epochs=1, batch_size=32, max_train_images=100, auto_promote=False
    )
    training = generated("api.training_jobs.training_jobs_create").sync(client=client, body=request)
    assert isinstance(training, models.Job), training
    assert training.model_version is None  # null until training creates a version
    retrieve = generated("api.training_jobs.training_jobs_retrieve")
    finished = poll(retrieve, client, training.id, seconds=240)
    assert str(finished.status) == "succeeded", finished
    assert finished.model_version == 2
