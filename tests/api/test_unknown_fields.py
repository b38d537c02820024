"""Every write operation of the API (enumerated from the schema, so a new endpoint is
covered the day it is added) refuses a field it does not take: a 400 whose body names
it, in each body encoding the operation accepts, and nothing is written. The verbs
that take no body (promote, rollback, evaluate, cancel) refuse any field."""

import re

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.models import Job
from predictions.models import Prediction
from training.models import ModelVersion, Promotion, TrainingImage

pytestmark = pytest.mark.django_db

UNSAFE = {"post", "put", "patch", "delete"}
ENCODINGS = {"application/json": "json", "multipart/form-data": "multipart"}
UNKNOWN = "validation_split"  # a plausible slip for validation_fraction


def write_operations() -> list[tuple[str, str, str]]:
    """(method, path, encoding) of every write operation, for each body encoding it
    declares; an operation without a body is tried with both."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method not in UNSAFE:
                continue
            declared = operation.get("requestBody", {}).get("content", ENCODINGS)
            operations.extend(
                (method, path, ENCODINGS[media]) for media in declared if media in ENCODINGS
            )
    return sorted(operations)


@pytest.fixture
def admin() -> APIClient:
    user = User.objects.create_superuser("admin", password="not-used-here")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def existing(admin) -> dict[str, int]:
    """One object of each resource a path names, by the path segment before its id."""
    user = User.objects.get(username="admin")
    version = ModelVersion.objects.create(
        number=1, artifact_path="v1", class_names=["a", "b"], dataset_fingerprint="0"
    )
    image = TrainingImage.objects.create(
        image="training/x.png", sha256="0" * 64, label="cat", source="upload"
    )
    return {
        "model-versions": version.number,
        "training-images": image.pk,
        "training-jobs": Job.objects.create(kind="training", submitted_by=user).pk,
        "batch-jobs": Job.objects.create(kind="batch_inference", submitted_by=user).pk,
    }


def concrete(path: str, existing: dict[str, int]) -> str:
    """The path with each `{id}` replaced by an existing object's (a new resource
    needs an entry in `existing`)."""
    return re.sub(r"([^/]+)/\{[^}]+\}", lambda match: f"{match[1]}/{existing[match[1]]}", path)


def stored_state() -> dict:
    return {
        "jobs": set(Job.objects.values_list("id", "status", "cancel_requested")),
        "versions": set(ModelVersion.objects.values_list("number", "status")),
        "promotions": Promotion.objects.count(),
        "images": set(TrainingImage.objects.values_list("id", "label", "split", "status")),
        "predictions": Prediction.objects.count(),
    }


def test_the_schema_lists_the_write_operations_this_test_is_about():
    operations = write_operations()
    assert ("post", "/api/v1/training-jobs/", "json") in operations
    assert ("post", "/api/v1/model-versions/{number}/promote/", "multipart") in operations
    assert len({(method, path) for method, path, _ in operations}) >= 10


@pytest.mark.parametrize("operation", write_operations(), ids="{0[0]} {0[1]} {0[2]}".format)
def test_a_field_the_operation_does_not_take_is_a_400_naming_it(operation, admin, existing):
    method, path, encoding = operation
    before = stored_state()
    value = 1.5 if encoding == "json" else "1.5"
    response = getattr(admin, method)(
        concrete(path, existing), {UNKNOWN: value, "another_one": value}, format=encoding
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] == "invalid input"
    assert {UNKNOWN, "another_one"} <= set(body["errors"]), body
    assert "unknown field" in body["errors"][UNKNOWN][0]
    assert stored_state() == before


def test_a_retrain_with_an_unknown_parameter_starts_nothing(admin, existing):
    response = admin.post(
        "/api/v1/training-jobs/", {"epochs": 0, "validation_split": 0.2}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"epochs", "validation_split"}  # every problem at once
    assert errors["validation_split"][0].startswith(
        "unknown field; this operation takes auto_promote, batch_size,"
    )
    assert not Job.objects.filter(kind="training").exclude(pk=existing["training-jobs"]).exists()


def test_read_only_fields_are_refused_too(admin, existing):
    url = f"/api/v1/training-images/{existing['training-images']}/"
    response = admin.patch(url, {"label": "dog", "sha256": "1" * 64}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"sha256": ["read-only: it cannot be set"]}
    assert TrainingImage.objects.get().label == "cat"


def test_a_verb_that_takes_no_body_still_works_without_one(admin, existing):
    response = admin.post("/api/v1/model-versions/1/promote/")
    assert response.status_code == 200, response.content
    assert ModelVersion.production().number == 1
