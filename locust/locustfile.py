"""Load against the Django service, as its real users use it.

- DashboardViewer: a browser tab of the dashboard polling the status endpoints.
- ApiClient: a program predicting single images (ApiClientNoThinkTime: back to back).
- BatchSubmitter: uploads a zip of images as a batch job, polls it to completion and
  downloads the results; the whole job's duration is reported as "JOB batch (N images)".
- Curator: uploads labelled training images.

Every request authenticates with a token of its own user (one per simulated user,
round robin, so that per-user rate limits count as they would for real clients),
read from the file LOCUST_TOKENS_FILE (one token a line; `locust/loadtest.py` makes
them). Every uploaded image is unique: an image of the CIFAR archive at
LOCUST_CIFAR_ARCHIVE with a per-request pattern written into two pixels, so no
request is answered from a stored duplicate.

    locust -f locust/locustfile.py --host http://127.0.0.1:8000 ApiClient DashboardViewer
"""

from __future__ import annotations

import io
import itertools
import os
import random
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from urllib3 import encode_multipart_formdata

from locust import FastHttpUser, between, constant, events, task

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml_core.datasets import load_cifar  # noqa: E402
from ml_core.preprocessing import encode_png  # noqa: E402

ARCHIVE = os.environ.get(
    "LOCUST_CIFAR_ARCHIVE", str(ROOT / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz")
)
BATCH_IMAGES = int(os.environ.get("LOCUST_BATCH_IMAGES", "20"))
CURATOR_IMAGES = int(os.environ.get("LOCUST_CURATOR_IMAGES", "5"))
JOB_POLL_SECONDS = 0.5
JOB_TIMEOUT_SECONDS = 300
FINISHED = {"succeeded", "failed", "cancelled"}


class Images:
    """The archive's images, made unique per request (two pixels carry a counter and
    the load generator's process id, so several `--processes` never repeat one)."""

    def __init__(self, archive: str) -> None:
        dataset = load_cifar(archive)
        self.class_names = dataset.class_names
        self.pixels = np.concatenate([dataset.train.images, dataset.test.images])
        self.labels = np.concatenate([dataset.train.labels, dataset.test.labels])
        self.by_class = [
            np.flatnonzero(self.labels == label) for label in range(len(self.class_names))
        ]
        self.counter = itertools.count()
        self.process = os.getpid() & 0xFFFFFF

    def next(self, label: int | None = None) -> tuple[str, bytes, str]:
        """(file name, PNG bytes, class name), of the class `label` if given."""
        number = next(self.counter)
        pool = self.by_class[label] if label is not None else np.arange(len(self.pixels))
        index = pool[number % len(pool)]
        pixels = self.pixels[index].copy()
        pixels[0, 0] = [(number >> shift) & 0xFF for shift in (16, 8, 0)]
        pixels[0, 1] = [(self.process >> shift) & 0xFF for shift in (16, 8, 0)]
        name = f"load-{self.process}-{number}.png"
        return name, encode_png(pixels), self.class_names[self.labels[index]]


images: Images  # loaded by load_images_and_tokens, before any user starts
tokens: list[str] = []
token_counter = itertools.count()
# A form field: a value, or (file name, content, content type)
FormField = tuple[str, str | tuple[str, bytes, str]]


@events.init.add_listener
def load_images_and_tokens(environment, **kwargs) -> None:
    global images, tokens
    images = Images(ARCHIVE)
    tokens_file = os.environ.get("LOCUST_TOKENS_FILE")
    if tokens_file:
        tokens = [line.strip() for line in Path(tokens_file).read_text().split() if line.strip()]


def multipart(fields: list[FormField]) -> tuple[bytes, dict[str, str]]:
    body, content_type = encode_multipart_formdata(fields)
    return body, {"Content-Type": content_type}


class ServiceUser(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        self.headers: dict[str, str] = {}
        if tokens:
            token = tokens[next(token_counter) % len(tokens)]
            self.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, name: str | None = None, headers: dict | None = None):
        return self.client.get(path, headers={**self.headers, **(headers or {})}, name=name)

    def post_files(self, path: str, fields: list[FormField], name: str | None = None):
        body, headers = multipart(fields)
        return self.client.post(
            path,
            data=body,  # type: ignore[arg-type]  # bytes are sent as they are; the stub says str
            headers={**self.headers, **headers},
            name=name,
        )


class DashboardViewer(ServiceUser):
    """The dashboard's service panel, jobs and statistics, refreshed every few seconds."""

    weight = 4
    wait_time = between(2, 5)

    @task(4)
    def model_info(self) -> None:
        self.get("/api/v1/model/")

    @task(2)
    def readiness(self) -> None:
        # 503 is a valid answer (not ready), not a failed request.
        with self.client.get(
            "/api/v1/health/ready/", headers=self.headers, catch_response=True
        ) as response:
            if response.status_code in {200, 503}:
                response.success()

    @task(2)
    def running_jobs(self) -> None:
        self.get("/api/v1/training-jobs/?status=running", name="/api/v1/training-jobs/?status=")
        self.get("/api/v1/batch-jobs/?status=running", name="/api/v1/batch-jobs/?status=")

    @task(1)
    def statistics(self) -> None:
        self.get("/api/v1/predictions/stats/")

    @task(1)
    def history(self) -> None:
        self.get("/api/v1/predictions/?page=1", name="/api/v1/predictions/?page=")


class ApiClient(ServiceUser):
    """A program sending one image at a time, with a short pause between requests."""

    weight = 10
    wait_time = between(0.1, 1.0)

    @task
    def predict(self) -> None:
        name, content, _ = images.next()
        self.post_files("/api/v1/predict/", [("image", (name, content, "image/png"))])


class ApiClientNoThinkTime(ApiClient):
    """The same program sending its next image as soon as the answer arrives."""

    wait_time = constant(0)


class BatchSubmitter(ServiceUser):
    """Uploads a zip as a batch job, polls it to the end and downloads the results."""

    weight = 1
    wait_time = between(5, 15)

    @task
    def batch_job(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for _ in range(BATCH_IMAGES):
                name, content, _ = images.next()
                archive.writestr(name, content)
        started = time.perf_counter()
        response = self.post_files(
            "/api/v1/batch-jobs/",
            [("archive", ("batch.zip", buffer.getvalue(), "application/zip"))],
        )
        if response.status_code != 202:
            return
        job_id, key = response.json()["id"], response.json()["access_key"]
        job = {"X-Job-Key": key} if key else {}  # an anonymous job is seen with its key
        status, deadline = "queued", time.monotonic() + JOB_TIMEOUT_SECONDS
        while status not in FINISHED and time.monotonic() < deadline:
            time.sleep(JOB_POLL_SECONDS)
            poll = self.get(
                f"/api/v1/batch-jobs/{job_id}/", name="/api/v1/batch-jobs/[id]/", headers=job
            )
            if poll.status_code == 200:
                status = poll.json()["status"]
        self.get(
            f"/api/v1/batch-jobs/{job_id}/results/",
            name="/api/v1/batch-jobs/[id]/results/",
            headers=job,
        )
        events.request.fire(
            request_type="JOB",
            name=f"batch ({BATCH_IMAGES} images)",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None if status == "succeeded" else RuntimeError(f"job ended {status}"),
            context={},
        )


class Curator(ServiceUser):
    """Adds a few labelled training images at a time."""

    weight = 1
    wait_time = between(3, 10)

    @task
    def upload_training_images(self) -> None:
        # One class per upload, as a curator adds examples of one class at a time.
        label = random.randrange(len(images.class_names))
        fields: list[FormField] = []
        for _ in range(CURATOR_IMAGES):
            name, content, class_name = images.next(label)
            fields.append(("images", (name, content, "image/png")))
        fields += [("label", class_name), ("split", "train")]
        self.post_files("/api/v1/training-images/", fields)
