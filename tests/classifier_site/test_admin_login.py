"""The admin's sign-in page is throttled like the dashboard's (django-axes)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return User.objects.create_superuser("root", password="a long admin password")


def attempt(client, password: str, address: str = "127.0.0.1"):
    data = {"username": "root", "password": password, "next": "/admin/"}
    return client.post("/admin/login/?next=/admin/", data, REMOTE_ADDR=address)


def test_the_right_password_signs_in(client, admin_user):
    assert attempt(client, "a long admin password")["Location"] == "/admin/"


def test_after_the_failure_limit_the_admin_refuses_even_the_right_password(client, admin_user):
    assert [attempt(client, "wrong").status_code for _ in range(2)] == [200, 200]
    refused = attempt(client, "wrong")
    assert refused.status_code == 429 and refused["Retry-After"] == "900"
    assert "Too many failed sign-ins" in refused.content.decode()
    assert attempt(client, "a long admin password").status_code == 429
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_the_admin_lock_holds_at_that_client_address_only(client, admin_user):
    for _ in range(3):
        attempt(client, "wrong", address="203.0.113.7")
    assert attempt(client, "a long admin password", address="203.0.113.8").status_code == 302
