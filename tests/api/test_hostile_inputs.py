"""The hostile-input corpus (harness/hostile_inputs.py) against every upload endpoint,
with a real inference worker and model: each input gets a clear JSON 4xx or is
accepted correctly, never a 5xx; the service stays healthy; nothing stored before
is changed."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from PIL import Image
from rest_framework.test import APIClient

from harness.hostile_inputs import (
    ACCEPT,
    Archive,
    Case,
    _zip,
    archives,
    image_files,
    multipart,
    valid_png,
)
from jobs import lifecycle
from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions.models import BatchItem, Prediction
from tests.api.conftest import client_for
from tests.workers import JOB_TEST, register_version
from training.imports import import_uploads
from training.models import ModelVersion, TrainingImage

pytestmark = JOB_TEST

ENDPOINTS = ["predict", "predict/many", "batch-jobs", "training-images"]


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("hostile")


@pytest.fixture
def production(worker, trained_artifacts):
    return register_version(trained_artifacts, 1)


@pytest.fixture
def curator() -> APIClient:
    user = User.objects.create_user("curator")
    user.user_permissions.add(Permission.objects.get(codename="add_trainingimage"))
    return client_for(user)


def file_hashes() -> dict[str, str]:
    root = Path(settings.MEDIA_ROOT)
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def database_state() -> dict:
    return {
        "training images": set(
            TrainingImage.objects.values_list("id", "sha256", "label", "split", "status", "image")
        ),
        "predictions": set(
            Prediction.objects.values_list("id", "top_label", "image", "image_sha256")
        ),
        "batch items": BatchItem.objects.count(),
        "jobs": set(Job.objects.values_list("id", "status")),
        "versions": set(ModelVersion.objects.values_list("id", "status", "artifact_path")),
    }


@pytest.fixture
def stored_before(production, curator, small_dataset):
    """Data stored before the corpus; afterwards every row and file is as it was."""
    import_uploads(
        [
            (f"{index}.png", encode_png(pixels))
            for index, pixels in enumerate(small_dataset.train.images[:20])
        ],
        "cat",
        "train",
        allow_new=True,
    )
    for _ in range(2):
        assert post(APIClient(), "predict", [("image", b"a.png", valid_png())]).status_code == 200
    rows, files = database_state(), file_hashes()
    yield
    after_rows, after_files = database_state(), file_hashes()
    assert rows["training images"] <= after_rows["training images"]
    assert rows["predictions"] <= after_rows["predictions"]
    assert rows["versions"] == after_rows["versions"]
    assert {path: after_files.get(path) for path in files} == files
    # The service still answers, and still predicts.
    assert APIClient().get("/api/v1/health/live/").status_code == 200
    assert post(APIClient(), "predict", [("image", b"b.png", valid_png())]).status_code == 200


def post(client: APIClient, endpoint: str, files: list, fields: dict | None = None):
    body, content_type = multipart(fields or {}, files)
    return client.generic("POST", f"/api/v1/{endpoint}/", body, content_type=content_type)


def problems_with(response, what: str) -> list[str]:
    """A 5xx, a 4xx without a JSON `detail`, or a leaked server path or traceback."""
    text = response.content.decode("utf-8", "replace")
    problems = []
    if response.status_code >= 500:
        problems.append(f"{what}: {response.status_code} {text[:300]}")
    elif response.status_code >= 400:
        if not response["Content-Type"].startswith("application/json"):
            problems.append(f"{what}: {response.status_code} is not JSON: {text[:200]}")
        elif not isinstance(response.json().get("detail"), str):
            problems.append(f"{what}: {response.status_code} has no detail: {text[:200]}")
    for leak in ("Traceback", str(settings.BASE_DIR), str(settings.MEDIA_ROOT)):
        if leak in text:
            problems.append(f"{what}: the response shows {leak!r}")
    return problems


def send_file(client: APIClient, curator: APIClient, endpoint: str, case: Case):
    upload = (case.filename, case.content)
    if endpoint == "predict":
        return post(client, endpoint, [("image", *upload)])
    if endpoint == "predict/many":
        return post(client, endpoint, [("images", *upload), ("images", b"ok.png", valid_png())])
    if endpoint == "batch-jobs":
        return post(client, endpoint, [("images", *upload)])
    return post(curator, endpoint, [("images", *upload)], {"label": "cat"})


def outcome_problems(endpoint: str, case: Case, response) -> list[str]:
    what = f"{case.name} -> {endpoint}"
    problems = problems_with(response, what)
    status, body = response.status_code, response.json()
    accepted = {"predict": 200, "predict/many": 200, "batch-jobs": 202, "training-images": 201}
    if case.expect == ACCEPT:
        if status != accepted[endpoint]:
            problems.append(f"{what}: expected {accepted[endpoint]}, got {status} {body}")
        elif endpoint == "training-images" and body["rejected"]:
            problems.append(f"{what}: rejected {body['rejected']}")
        elif endpoint == "predict/many" and len(body["results"]) != 2:
            problems.append(f"{what}: {len(body['results'])} results for 2 images")
    elif endpoint == "training-images" and status == 201:
        if body["created"] or len(body["rejected"]) != 1:  # listed as rejected is fine
            problems.append(f"{what}: expected it rejected, got {body}")
    elif status != 400:
        problems.append(f"{what}: expected 400, got {status} {body}")
    return problems


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_file_of_the_corpus_is_refused_clearly_or_accepted(endpoint, stored_before, curator):
    client, problems = APIClient(), []
    cases = image_files()
    assert len(cases) >= 25
    for case in cases:
        response = send_file(client, curator, endpoint, case)
        problems += outcome_problems(endpoint, case, response)
        if endpoint == "batch-jobs" and response.status_code == 202:
            lifecycle.request_cancel(Job.objects.get(pk=response.json()["id"]))
    assert not problems, "\n".join(problems)


def test_accepted_names_are_stored_for_display_without_control_characters(stored_before, curator):
    name = b"a\x00b\x1b[31m\x7f.png"
    response = post(APIClient(), "predict", [("image", name, valid_png())])
    assert response.status_code == 200, response.content
    stored = Prediction.objects.get(pk=response.json()["prediction_id"]).original_name
    assert stored.isprintable(), repr(stored)
    assert stored.endswith(".png")


def send_archive(client: APIClient, curator: APIClient, endpoint: str, archive: Archive):
    files = [("archive", b"upload.zip", archive.content)]
    if endpoint == "batch-jobs":
        return post(client, endpoint, files)
    # new_class: the corpus's folders name classes the stored images do not have.
    return post(curator, endpoint, files, {"split": "train", "new_class": "true"})


@pytest.mark.parametrize("endpoint", ["batch-jobs", "training-images"])
def test_every_archive_of_the_corpus_is_refused_clearly_or_accepted(
    endpoint, stored_before, curator, tmp_path
):
    client, problems = APIClient(), []
    for archive in archives():
        response = send_archive(client, curator, endpoint, archive)
        what = f"{archive.name} -> {endpoint}"
        problems += problems_with(response, what)
        expect = archive.batch_expect if endpoint == "batch-jobs" else archive.training_expect
        accepted = 202 if endpoint == "batch-jobs" else 201
        wanted = accepted if expect == ACCEPT else 400
        if response.status_code != wanted:
            problems.append(f"{what}: expected {wanted}, got {response.status_code}")
        if response.status_code == 202:
            lifecycle.request_cancel(Job.objects.get(pk=response.json()["id"]))
    assert not problems, "\n".join(problems)
    outside = [path for path in Path(settings.MEDIA_ROOT).parent.rglob("evil*")]
    assert not outside, f"a member name reached the filesystem: {outside}"


def test_a_zip_bomb_is_refused_by_its_uncompressed_size(stored_before):
    bomb = next(archive for archive in archives() if "many members" in archive.name)
    response = post(APIClient(), "batch-jobs", [("archive", b"bomb.zip", bomb.content)])
    assert response.status_code == 400
    assert "uncompressed" in str(response.json())


def test_oversized_and_overfull_requests_are_refused_with_json(stored_before, curator):
    problems = []
    for endpoint in ENDPOINTS:
        problems += oversized_request_problems(endpoint, curator)
    assert not problems, "\n".join(problems)


def oversized_request_problems(endpoint: str, curator: APIClient) -> list[str]:
    client = curator if endpoint == "training-images" else APIClient()
    field = "image" if endpoint == "predict" else "images"
    label = {"label": "cat"} if endpoint == "training-images" else {}
    huge_file = bytes(settings.API_MAX_UPLOAD_BYTES + 1)
    tiny = valid_png()
    requests = {
        "a file over the size limit": post(
            client, endpoint, [(field, b"big.png", huge_file)], label
        ),
        "a form field over the memory limit": post(
            client, endpoint, [(field, b"a.png", tiny)], {**label, "top_k": "9" * 11_000_000}
        ),
        "more files than allowed": post(
            client,
            endpoint,
            [(field, f"{index}.png".encode(), tiny) for index in range(settings.API_MAX_FILES + 1)],
            label,
        ),
        "a multipart body without a boundary": client.generic(
            "POST", f"/api/v1/{endpoint}/", b"--x\r\n\r\n", content_type="multipart/form-data"
        ),
        "a body cut off in the middle": client.generic(
            "POST",
            f"/api/v1/{endpoint}/",
            multipart(label, [(field, b"a.png", tiny)])[0][:200],
            content_type=multipart({}, [])[1],
        ),
    }
    problems = []
    for what, response in requests.items():
        problems += problems_with(response, f"{what} -> {endpoint}")
        if response.status_code != 400:
            problems.append(f"{what} -> {endpoint}: expected 400, got {response.status_code}")
    return problems


def test_labels_with_path_separators_or_unknown_classes_are_refused(stored_before, curator):
    files = [("images", b"a.png", valid_png())]
    for label in ["../../etc", "cat/dog", "cat\\dog", "zebra", "\x00", "é" * 10, "a" * 1000]:
        response = post(curator, "training-images", files, {"label": label})
        # A well-formed label of a class the training set lacks: 409 (send new_class)
        assert response.status_code == (409 if label == "zebra" else 400), label
        assert problems_with(response, label) == []
        assert "label" in response.json()["errors"]


def test_a_file_whose_name_is_not_utf8_is_not_taken_for_an_image(stored_before, curator):
    """Django's multipart parser skips a part whose headers are not UTF-8 (browsers
    always send UTF-8): alone, it leaves the request without files, a clear 400."""
    for endpoint in ENDPOINTS:
        client = curator if endpoint == "training-images" else APIClient()
        field = "image" if endpoint == "predict" else "images"
        label = {"label": "cat"} if endpoint == "training-images" else {}
        upload = (field, b"\xff\xfe\xe9t\xe9.png", valid_png())
        response = post(client, endpoint, [upload], label)
        assert response.status_code == 400, endpoint
        assert problems_with(response, endpoint) == []


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_body_over_the_byte_budget_is_refused_413_before_it_is_read(
    stored_before, curator, settings
):
    settings.API_MAX_REQUEST_BYTES = 100_000
    big = bytes(range(256)) * 500  # 128,000 bytes: under the per-file limit
    problems = []
    for endpoint in ENDPOINTS:
        client = curator if endpoint == "training-images" else APIClient()
        field = "image" if endpoint == "predict" else "images"
        label = {"label": "cat"} if endpoint == "training-images" else {}
        response = post(client, endpoint, [(field, b"big.png", big)], label)
        problems += problems_with(response, f"big body -> {endpoint}")
        if response.status_code != 413 or "100,000 bytes" not in response.json()["detail"]:
            problems.append(f"big body -> {endpoint}: {response.status_code} {response.content}")
        elif response.json()["limit"] != 100_000:
            problems.append(f"big body -> {endpoint}: limit {response.json()['limit']}")
    assert not problems, "\n".join(problems)


def test_images_over_the_pixel_budget_are_refused_413_before_decoding(
    stored_before, curator, settings
):
    """Two 800x800 images (1.28 megapixels) against a budget of 1 megapixel: refused,
    in files and in zips; one of them alone passes."""
    settings.API_MAX_REQUEST_PIXELS = 1_000_000
    image = png_of(800, 800)
    archive = _zip({"cat/a.png": image, "cat/b.png": png_of(800, 801)})
    two = [(b"a.png", image), (b"b.png", png_of(801, 800))]
    requests = {
        "predict/many": post(APIClient(), "predict/many", [("images", *file) for file in two]),
        "batch-jobs images": post(APIClient(), "batch-jobs", [("images", *file) for file in two]),
        "batch-jobs archive": post(APIClient(), "batch-jobs", [("archive", b"a.zip", archive)]),
        "training-images images": post(
            curator, "training-images", [("images", *file) for file in two], {"label": "cat"}
        ),
        "training-images archive": post(
            curator, "training-images", [("archive", b"a.zip", archive)], {"split": "train"}
        ),
    }
    problems = []
    for what, response in requests.items():
        problems += problems_with(response, what)
        detail = response.json().get("detail", "")
        if response.status_code != 413 or "1,000,000 pixels" not in detail:
            problems.append(f"{what}: {response.status_code} {response.content[:300]}")
    assert not problems, "\n".join(problems)
    assert TrainingImage.objects.filter(original_name__in=["a.png", "b.png"]).count() == 0
    alone = post(APIClient(), "predict", [("image", b"a.png", image)])
    assert alone.status_code == 200, alone.content
