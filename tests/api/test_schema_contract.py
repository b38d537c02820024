"""The schema's promises that are not per-endpoint (classifier_site/schema.py): every
error status of every operation has the one JSON error body; the shared errors
(400, 401, 403, 404, 413, 415, 429, 503) are listed where the shared machinery can
give them; a repeated or empty query parameter is a 400 naming it."""

import io

import pytest
from django.contrib.auth.models import Permission, User
from drf_spectacular.generators import SchemaGenerator
from PIL import Image

from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", method, path, operation


def test_every_error_status_of_every_operation_has_the_error_body(schema):
    for label, _, _, operation in operations(schema):
        for code, response in operation["responses"].items():
            if code >= "400":
                body = response["content"]["application/json"]["schema"]
                assert body == ERROR, f"{label} {code}"


def test_the_error_body_is_what_the_handler_sends(schema, api):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"]
    assert set(error["properties"]) == {
        "detail",
        "errors",
        "limit",
        "quota",
        "service_limit",
        "in_use",
    }
    body = api.post("/api/v1/predict/", {}).json()
    assert set(body) <= set(error["properties"]) and isinstance(body["errors"], dict)


def test_the_shared_errors_are_listed_where_they_can_happen(schema):
    for label, method, path, operation in operations(schema):
        codes = set(operation["responses"])
        assert {"400", "413"} <= codes, label
        if "health" not in path:
            assert {"401", "503"} <= codes, label
        if "{" in path:
            assert "404" in codes, label
        if method in {"post", "patch"}:
            assert "415" in codes, label
    polling = schema["paths"]["/api/v1/batch-jobs/{id}/"]["get"]["responses"]
    assert "429" not in polling  # progress polling is never rate-limited
    limited = schema["paths"]["/api/v1/predict/"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True


def test_either_images_an_archive_or_a_draft_is_a_one_of(schema):
    body = schema["components"]["schemas"]["BatchJobRequestRequest"]
    one_of = [{"required": ["images"]}, {"required": ["archive"]}, {"required": ["draft"]}]
    assert {"oneOf": one_of} in body["allOf"]
    draft = body["properties"]["draft"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][draft]["enum"] == [True]  # sent as true or not at all
    appended = schema["components"]["schemas"]["BatchAppendRequestRequest"]
    assert {"oneOf": [{"required": ["images"]}, {"required": ["archive"]}]} in appended["allOf"]


def test_a_jobs_model_version_may_be_null(schema):
    job = schema["components"]["schemas"]["Job"]["properties"]
    assert job["model_version"]["nullable"] is True
    assert job["submitted_by"]["nullable"] is True


def test_a_repeated_or_empty_query_parameter_is_a_400_naming_it(api):
    response = api.get("/api/v1/model-versions/?page=1&page=2&status=")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "invalid input",
        "errors": {
            "page": ["given more than once; send it once"],
            "status": ["empty; leave the parameter out instead"],
        },
    }
    assert api.get("/api/v1/model-versions/?page=1").status_code == 200


def test_query_parameters_state_their_bounds(schema):
    parameters = schema["paths"]["/api/v1/predictions/"]["get"]["parameters"]
    bounds = {p["name"]: p["schema"] for p in parameters}
    assert (bounds["min_confidence"]["minimum"], bounds["min_confidence"]["maximum"]) == (0, 1)
    assert bounds["model_version"]["minimum"] == 1 and bounds["page"]["minimum"] == 1
    assert bounds["label"]["minLength"] == 1


def test_a_json_value_of_another_type_than_the_schema_gives_is_a_400_naming_it():
    """DRF alone reads 0 as false and "5" as 5: the schema says boolean and integer."""
    trainer = User.objects.create_user("trainer")
    trainer.user_permissions.add(Permission.objects.get(codename="add_job"))
    response = client_for(trainer).post(
        "/api/v1/training-jobs/", {"auto_promote": 0, "epochs": "5"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "auto_promote": ["must be a JSON boolean (true or false)"],
        "epochs": ["must be a JSON number"],
    }


def test_an_empty_form_value_is_a_400_not_the_default(api):
    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, "PNG")
    image.seek(0)
    image.name = "a.png"
    response = api.post("/api/v1/predict/", {"image": image, "top_k": ""}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"] == {"top_k": ["empty; leave the field out instead"]}
