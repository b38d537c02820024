"""Hostile uploads against a real gunicorn server with one gevent worker, as in
production: each is refused with a JSON 4xx while the worker's resident memory,
sampled every 10 ms, stays within 300 MB of its level before the request; the
server answers and predicts afterwards."""

from __future__ import annotations

import io
from functools import cache

import psutil
import pytest
import requests
from PIL import Image

from harness.hostile_inputs import bzip2_bomb, lying_size_zip, many_entries_zip
from harness.measure import PeakRss
from ml_core.preprocessing import encode_png

pytestmark = pytest.mark.faults
RSS_HEADROOM_BYTES = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def server(deployment, mini_dataset):
    deployment.start_worker("inference")
    deployment.start_web(worker_class="gevent", workers=1)
    deployment.manage("issue_token", "curator", "--create")
    deployment.postgres.query("UPDATE auth_user SET is_superuser = true WHERE username = 'curator'")
    token = deployment.postgres.value(
        "SELECT key FROM authtoken_token JOIN auth_user ON auth_user.id = user_id"
        " WHERE username = 'curator'"
    )
    (web_worker,) = psutil.Process(deployment.web.process.pid).children()
    image = encode_png(mini_dataset.test.images[0])
    predict(deployment, image)  # everything a request needs is loaded before measuring
    return deployment, web_worker, {"Authorization": f"Token {token}"}, image


def predict(deployment, image: bytes) -> requests.Response:
    response = requests.post(
        f"{deployment.base_url}/api/v1/predict/",
        files={"image": ("a.png", image, "image/png")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response


@cache
def solid_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def hostile_requests() -> dict[str, tuple[str, dict, bool]]:
    """name -> (endpoint, multipart files, as the curator)."""
    bomb = lying_size_zip()  # 400 MB of deflate declared as 10 bytes
    big = solid_png(8000)  # 64 megapixels in a few hundred KB
    return {
        "lying-size zip -> batch-jobs": ("batch-jobs", {"archive": ("a.zip", bomb)}, False),
        "lying-size zip -> training-images": (
            "training-images",
            {"archive": ("a.zip", bomb)},
            True,
        ),
        "bzip2 bomb -> batch-jobs": ("batch-jobs", {"archive": ("b.zip", bzip2_bomb())}, False),
        "100,000 entries -> batch-jobs": (
            "batch-jobs",
            {"archive": ("c.zip", many_entries_zip(100_000))},
            False,
        ),
        "16 x 64 MP -> predict/many": (
            "predict/many",
            [("images", (f"{index}.png", big, "image/png")) for index in range(16)],
            False,
        ),
    }


@pytest.mark.parametrize("name", list(hostile_requests()))
def test_a_hostile_upload_is_refused_within_bounded_memory(server, name):
    deployment, web_worker, curator, image = server
    endpoint, files, as_curator = hostile_requests()[name]
    before = web_worker.memory_info().rss
    with PeakRss(web_worker) as rss:
        response = requests.post(
            f"{deployment.base_url}/api/v1/{endpoint}/",
            files=files,
            data={"split": "train"} if as_curator else {},
            headers=curator if as_curator else {},
            timeout=120,
        )
    grew = rss.peak - before
    assert 400 <= response.status_code < 500, response.text[:500]
    assert isinstance(response.json()["detail"], str)
    assert grew < RSS_HEADROOM_BYTES, f"the worker grew by {grew / 2**20:.0f} MB"
    assert requests.get(f"{deployment.base_url}/api/v1/health/live/", timeout=10).ok
    predict(deployment, image)
