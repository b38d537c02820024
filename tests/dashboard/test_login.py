from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(db):
    return User.objects.create_user("curator", password="a long test password")


def test_sign_in_then_return_to_the_page_asked_for(client, curator):
    page = client.get("/accounts/login/?next=/retrain/").content.decode()
    assert '<label for="id_username">Username</label>' in page
    assert 'name="csrfmiddlewaretoken"' in page
    response = client.post(
        "/accounts/login/",
        {"username": "curator", "password": "a long test password", "next": "/retrain/"},
    )
    assert response["Location"] == "/retrain/"
    assert "Signed in as <strong>curator</strong>" in client.get("/").content.decode()


def test_a_wrong_password_is_said_in_words(client, curator):
    response = client.post("/accounts/login/", {"username": "curator", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_sign_out_is_a_post(client, curator):
    client.force_login(curator)
    assert client.post("/accounts/logout/")["Location"] == "/"
    assert "Sign in</a>" in client.get("/").content.decode()


# --- throttling: django-axes, per username and client address ----------------------


@pytest.fixture
def three_failures_lock(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def attempt(client, password: str, address: str = "127.0.0.1", username="curator", **headers):
    data = {"username": username, "password": password}
    return client.post("/accounts/login/", data, REMOTE_ADDR=address, **headers)


@pytest.mark.usefixtures("three_failures_lock")
def test_after_the_failure_limit_even_the_right_password_is_refused_with_a_429_page(
    client, curator
):
    assert [attempt(client, "wrong").status_code for _ in range(2)] == [200, 200]
    refused = attempt(client, "wrong")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    page = refused.content.decode()
    assert "Too many failed sign-ins for this username from your address" in page
    assert "Try again in 15 minutes" in page
    assert attempt(client, "a long test password").status_code == 429
    assert "Signed in as" not in client.get("/").content.decode()


@pytest.mark.usefixtures("three_failures_lock")
def test_a_caller_that_wants_json_gets_the_refusal_as_json(client, curator):
    for _ in range(3):
        response = attempt(client, "wrong", HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "too many failed sign-ins for this username from your address: "
        "try again in 15 minutes",
        "retry_after_seconds": 900,
    }


@pytest.mark.usefixtures("three_failures_lock")
def test_the_lock_holds_one_username_at_one_address_only(client, curator):
    User.objects.create_user("other", password="another long password")
    for _ in range(3):
        attempt(client, "wrong", address="203.0.113.7")
    assert attempt(client, "a long test password", address="203.0.113.7").status_code == 429
    # Another address, same user; the same address, another user.
    assert attempt(client, "a long test password", address="203.0.113.8").status_code == 302
    other = attempt(Client(), "another long password", address="203.0.113.7", username="other")
    assert other.status_code == 302


@pytest.mark.usefixtures("three_failures_lock")
def test_behind_the_proxy_the_lock_follows_the_address_the_rate_limits_use(
    client, curator, settings
):
    """Two clients behind one proxy are told apart, and one that prepends fake
    X-Forwarded-For entries is still itself (classifier_site.api.client_address)."""
    settings.API_TRUSTED_PROXY_COUNT = 1
    proxy = {"address": "10.0.0.2"}
    for _ in range(3):
        attempt(client, "wrong", **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    for spoofed in ("198.51.100.1, 203.0.113.7", "203.0.113.8, 203.0.113.7"):
        forwarded = {"HTTP_X_FORWARDED_FOR": spoofed}
        assert attempt(client, "a long test password", **proxy, **forwarded).status_code == 429
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.8"}
    assert attempt(client, "a long test password", **proxy, **forwarded).status_code == 302


@pytest.mark.usefixtures("three_failures_lock")
def test_the_lock_lifts_once_the_cool_off_has_passed_since_the_last_failure(client, curator):
    for _ in range(3):
        attempt(client, "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert attempt(client, "a long test password").status_code == 302


@pytest.mark.usefixtures("three_failures_lock")
def test_a_successful_sign_in_starts_the_count_afresh(client, curator):
    for _ in range(2):
        attempt(client, "wrong")
    assert attempt(client, "a long test password").status_code == 302
    client.post("/accounts/logout/")
    assert [attempt(client, "wrong").status_code for _ in range(2)] == [200, 200]


@pytest.mark.usefixtures("three_failures_lock")
def test_api_tokens_of_a_locked_out_user_keep_working(client, curator):
    token = Token.objects.create(user=curator)
    for _ in range(3):
        attempt(client, "wrong")
    assert attempt(client, "a long test password").status_code == 429
    response = client.get(
        "/api/v1/training-jobs/", HTTP_AUTHORIZATION=f"Token {token.key}", REMOTE_ADDR="127.0.0.1"
    )
    assert response.status_code == 200
