"""Every unsafe operation of the API (enumerated from the schema, so a new endpoint
is covered the day it is added) is refused to anonymous callers and to users
without permission, and session-authenticated writes need a CSRF token."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

UNSAFE = {"post", "put", "patch", "delete"}
# Predicting (and submitting a batch job of predictions) is open to anonymous callers
# while API_ANONYMOUS_PREDICT is true (the default); nothing else that writes is.
OPEN_TO_ANONYMOUS_PREDICTION = {
    ("post", "/api/v1/predict/"),
    ("post", "/api/v1/predict/many/"),
    ("post", "/api/v1/batch-jobs/"),
}
# An anonymous batch job is cancelled by whoever holds its access key: the view lets
# anonymous callers in (while they may predict) and answers 404 for a job they
# cannot see (test_batch_job_privacy).
OPEN_TO_KEY_HOLDERS = {
    ("post", "/api/v1/batch-jobs/{id}/cancel/"),
    ("post", "/api/v1/batch-jobs/{id}/files/"),
    ("post", "/api/v1/batch-jobs/{id}/start/"),
}
TRAINING_CANCEL = ("post", "/api/v1/training-jobs/{id}/cancel/")
# Open to any signed-in user: their own predictions, and cancelling their own jobs
# (the view answers 403 for somebody else's job; see test_batch_job_privacy).
OPEN_TO_SIGNED_IN = OPEN_TO_ANONYMOUS_PREDICTION | OPEN_TO_KEY_HOLDERS | {TRAINING_CANCEL}


def unsafe_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in UNSAFE
    )


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_schema_lists_the_write_operations_this_test_is_about():
    operations = unsafe_operations()
    assert len(operations) >= 10
    assert set(operations) >= OPEN_TO_SIGNED_IN


@pytest.mark.parametrize("operation", unsafe_operations(), ids="{0[0]} {0[1]}".format)
def test_anonymous_writes_are_refused_with_401(operation, settings):
    settings.API_ANONYMOUS_PREDICT = False
    method, path = operation
    response = getattr(APIClient(), method)(concrete(path))
    assert response.status_code == 401, response.content
    assert "detail" in response.json()


@pytest.mark.parametrize("operation", unsafe_operations(), ids="{0[0]} {0[1]}".format)
def test_anonymous_callers_may_only_predict_by_default(operation):
    method, path = operation
    response = getattr(APIClient(), method)(concrete(path))
    if operation in OPEN_TO_ANONYMOUS_PREDICTION:
        assert response.status_code == 400  # allowed in, and told what is missing
    elif operation in OPEN_TO_KEY_HOLDERS:
        assert response.status_code == 404  # allowed in; no job seen without its key
    else:
        assert response.status_code == 401, response.content


@pytest.mark.parametrize("operation", unsafe_operations(), ids="{0[0]} {0[1]}".format)
def test_signed_in_users_without_permission_are_refused_with_403(operation, viewer):
    method, path = operation
    response = getattr(viewer, method)(concrete(path))
    if operation in OPEN_TO_SIGNED_IN:
        assert response.status_code in {400, 404}  # past the permission check
    else:
        assert response.status_code == 403, response.content
        assert "detail" in response.json()


@pytest.fixture
def curator() -> User:
    """A session user allowed to upload training images."""
    user = User.objects.create_user("curator", password="a long passphrase 42")
    user.user_permissions.add(Permission.objects.get(codename="add_trainingimage"))
    return user


def test_session_writes_without_a_csrf_token_are_refused(curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    response = client.post("/api/v1/training-images/", {"label": "cat"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_session_writes_with_the_csrf_token_get_through(curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    client.get("/admin/login/")  # any page that renders a form sets the cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/v1/training-images/", {"label": "cat"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400  # past CSRF and permission: no files were sent


def test_token_clients_need_no_csrf_token(curator):
    from rest_framework.authtoken.models import Token

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=curator).key}")
    assert client.post("/api/v1/training-images/", {"label": "cat"}).status_code == 400


def admin_add_urls() -> list[str]:
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        for model in admin.site._registry
    )


@pytest.mark.parametrize("url", admin_add_urls())
def test_the_admin_sends_anonymous_callers_to_the_login_page(url):
    client = APIClient(enforce_csrf_checks=True)
    for response in (client.get(url), client.post(url, {})):
        assert response.status_code in {302, 403}
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/")


def test_the_admin_refuses_a_signed_in_user_who_is_not_staff(viewer):
    client = APIClient()
    client.force_login(User.objects.get(username="viewer"))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_login_form_needs_its_csrf_token():
    password = "a long passphrase 42"
    User.objects.create_superuser("root", password=password)
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "root", "password": password})
    assert response.status_code == 403
