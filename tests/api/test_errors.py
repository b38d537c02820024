import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such endpoint: /api/v1/nothing-here/"}


def test_unknown_page_outside_the_api_stays_html(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_json_sent_to_an_upload_endpoint_is_a_json_415(viewer, curated_small):
    # (a batch job's submit takes JSON too, for `{"draft": true}`)
    response = viewer.generic(
        "POST", "/api/v1/predict/", "{not json", content_type="application/json"
    )
    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "application/json" in request.'}


def test_cors_allows_only_configured_origins(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dashboard.example"]
    allowed = api.get("/api/v1/model/", HTTP_ORIGIN="https://dashboard.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://dashboard.example"
    other = api.get("/api/v1/model/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_schema_documents_every_endpoint(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/predict/", "/api/v1/batch-jobs/", "/api/v1/batch-jobs/{id}/cancel/",
        "/api/v1/batch-jobs/{id}/results/", "/api/v1/predictions/", "/api/v1/predictions/stats/",
        "/api/v1/model-versions/{number}/promote/", "/api/v1/model-versions/rollback/",
        "/api/v1/model-versions/{number}/evaluate/", "/api/v1/training-images/",
        "/api/v1/training-jobs/", "/api/v1/health/ready/", "/api/v1/model/",
    ):  # fmt: skip
        assert expected in paths
    assert api.get("/api/schema/ui/").status_code == 200
