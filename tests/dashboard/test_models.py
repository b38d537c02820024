"""The models page shows promote and rollback only to those allowed, and the API it
calls checks again: the buttons are a convenience, not the guard."""

import pytest
from django.test import Client

from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db):
    for number, status in [(1, "retired"), (2, "production"), (3, "candidate")]:
        ModelVersion.objects.create(
            number=number, artifact_path=f"v{number}", status=status, dataset_fingerprint="0",
            metrics={"accuracy": number / 10, "f1_macro": 0.25, "count": 80},
        )  # fmt: skip


def test_versions_with_their_metrics(client, versions):
    content = client.get("/models/").content.decode()
    assert content.index('data-version="3"') < content.index('data-version="1"')
    assert '<td class="number">0.3000</td>' in content and '<td class="number">80</td>' in content
    assert 'href="/models/2/"' in content


def test_buttons_only_with_the_permission(client, sign_in, versions):
    assert b"Promote</button>" not in client.get("/models/").content
    sign_in()
    content = client.get("/models/").content.decode()
    assert "Promote</button>" not in content and 'id="rollback"' not in content
    client.logout()
    sign_in("change_modelversion", username="operator")
    content = client.get("/models/").content.decode()
    assert content.count("Promote</button>") == 2  # not for the production version
    assert 'data-url="/api/v1/model-versions/3/promote/"' in content
    assert 'id="rollback" data-url="/api/v1/model-versions/rollback/"' in content


def test_the_server_refuses_a_promotion_without_the_permission(sign_in, versions):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sign_in())
    token = client.get("/models/").context["csrf_token"]
    response = client.post("/api/v1/model-versions/3/promote/", HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 403
    assert ModelVersion.production().number == 2


def test_a_session_promotion_needs_the_csrf_token(sign_in, versions, django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sign_in("change_modelversion"))
    assert client.post("/api/v1/model-versions/3/promote/").status_code == 403
    assert ModelVersion.production().number == 2
    token = client.get("/models/").context["csrf_token"]
    response = client.post("/api/v1/model-versions/3/promote/", HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 200, response.content
    assert ModelVersion.production().number == 3
