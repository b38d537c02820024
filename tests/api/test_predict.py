"""POST /api/v1/predict/ with a real inference worker; every bad input is a JSON 4xx."""

import io
import struct
import zlib

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.authtoken.models import Token

from ml_core.preprocessing import encode_png
from predictions.models import Prediction
from tests.api.conftest import client_for
from tests.workers import JOB_TEST, let_workers_forget_deleted_versions, register_version

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("api-predict")


@pytest.fixture
def production(worker, trained_artifacts):
    return register_version(trained_artifacts, 7)


def upload(content: bytes, name: str = "image.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def post(api, content: bytes | None, name: str = "image.png", **fields):
    data = dict(fields)
    if content is not None:
        data["image"] = upload(content, name)
    return api.post("/api/v1/predict/", data, format="multipart")


def test_prediction_has_top_k_probabilities_version_and_id(api, production, mini_dataset):
    response = post(api, encode_png(mini_dataset.test.images[0]), top_k=2)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == 7
    assert len(body["top"]) == 2 and body["top"][0]["label"] == body["label"]
    assert len(body["probabilities"]) == 10
    assert Prediction.objects.get(pk=body["prediction_id"]).source == "api"


def test_jpeg_photo_of_any_size_is_accepted(api, production):
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), (200, 30, 30)).save(buffer, format="JPEG")
    assert post(api, buffer.getvalue(), "photo.jpg").status_code == 200


def assert_bad_image(response, fragment: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] == "invalid input"
    assert fragment in " ".join(body["errors"]["image"])


def test_missing_file(api, production):
    assert_bad_image(post(api, None), "No file was submitted")


def test_zero_bytes(api, production):
    assert_bad_image(post(api, b""), "The submitted file is empty")


def test_text_file(api, production):
    assert_bad_image(post(api, b"just some text", "notes.txt"), "not an image format")


def test_text_with_a_lying_png_extension(api, production):
    assert_bad_image(post(api, b"definitely not a png", "cat.png"), "not an image format")


def test_truncated_png(api, production, mini_dataset):
    data = encode_png(mini_dataset.test.images[0])
    assert_bad_image(post(api, data[: len(data) // 2]), "unreadable image")


def test_oversize_file(api, production, settings):
    settings.API_MAX_UPLOAD_BYTES = 2048
    assert_bad_image(post(api, bytes(4096)), "the file is 4096 bytes; the limit is 2048")


def test_decompression_bomb(api, production):
    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    assert_bad_image(post(api, bomb), "image too large")


def test_top_k_out_of_range(api, production, mini_dataset):
    response = post(api, encode_png(mini_dataset.test.images[0]), top_k=0)
    assert response.status_code == 400
    assert "top_k" in response.json()["errors"]


def test_wrong_method_is_a_json_405(api):
    response = api.get("/api/v1/predict/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}


def test_without_production_model_503_says_why(api, worker, mini_dataset):
    let_workers_forget_deleted_versions()
    response = post(api, encode_png(mini_dataset.test.images[0]))
    assert response.status_code == 503
    assert response.json() == {"detail": "no model version is in production yet"}


def test_anonymous_predicting_can_be_switched_off(api, production, settings, mini_dataset):
    settings.API_ANONYMOUS_PREDICT = False
    assert post(api, encode_png(mini_dataset.test.images[0])).status_code == 401


def post_many(api, contents: list[bytes], **fields):
    uploads = [upload(content, f"{index}.png") for index, content in enumerate(contents)]
    return api.post("/api/v1/predict/many/", {"images": uploads, **fields}, format="multipart")


def test_a_few_images_are_answered_in_the_request_in_order(api, production, mini_dataset):
    contents = [encode_png(pixels) for pixels in mini_dataset.test.images[:3]]
    response = post_many(api, contents, top_k=1)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 3 and all(len(result["top"]) == 1 for result in results)
    stored = [Prediction.objects.get(pk=result["prediction_id"]) for result in results]
    assert [prediction.original_name for prediction in stored] == ["0.png", "1.png", "2.png"]


def test_more_than_the_direct_limit_points_to_batch_jobs(api, production, mini_dataset, settings):
    settings.API_SYNC_BATCH_LIMIT = 2
    response = post_many(api, [encode_png(p) for p in mini_dataset.test.images[:3]])
    assert response.status_code == 400
    assert "submit more as a batch job at /api/v1/batch-jobs/" in str(response.json()["errors"])


def test_one_bad_image_refuses_them_all(api, production, mini_dataset):
    response = post_many(api, [encode_png(mini_dataset.test.images[0]), b"text"])
    assert response.status_code == 400
    assert "not an image format" in response.json()["errors"]["images"][0]
    assert Prediction.objects.count() == 0


def test_a_prediction_is_its_callers_and_its_file_shares_nothing_with_others(
    api, viewer, production, mini_dataset
):
    """The same image from two users, and from two anonymous requests, becomes four
    files whose names (keyed hashes) do not reveal the content or each other."""
    image = encode_png(mini_dataset.test.images[3])
    other = client_for(User.objects.create_user("other"))
    ids = [post(client, image).json()["prediction_id"] for client in (viewer, other, api, api)]
    rows = [Prediction.objects.get(pk=pk) for pk in ids]
    assert [row.owner for row in rows] == [user_of(viewer), user_of(other), None, None]
    names = [row.image.name for row in rows]
    assert len(set(names)) == 4 and all(rows[0].image_sha256 not in name for name in names)
    assert [row["id"] for row in viewer.get("/api/v1/predictions/").json()["results"]] == ids[:1]
    assert api.get("/api/v1/predictions/").json()["count"] == 0  # anonymous: in the answer only
    # The same user sending it again shares their own file.
    again = Prediction.objects.get(pk=post(viewer, image).json()["prediction_id"])
    assert again.image.name == names[0]


def user_of(client) -> User:
    return Token.objects.get(key=client._credentials["HTTP_AUTHORIZATION"][6:]).user
