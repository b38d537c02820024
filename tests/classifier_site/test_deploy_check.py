"""Production mode passes Django's deployment checklist, and its headers are sent."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent.parent


def deploy_check(**environment: str) -> subprocess.CompletedProcess:
    """`manage.py check --deploy --fail-level WARNING` in a fresh process."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_"))  # `make test` exports DJANGO_DEBUG
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_PRODUCTION": "true",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "classifier.example.com",
}


def test_production_settings_pass_the_deploy_check_with_no_warning():
    result = deploy_check(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_behind_a_tls_proxy_passes_too():
    result = deploy_check(**PRODUCTION, DJANGO_BEHIND_TLS_PROXY="true")
    assert result.returncode == 0, result.stderr


def test_development_settings_fail_it_so_the_check_can_fail():
    result = deploy_check(DJANGO_DEBUG="true")
    assert result.returncode != 0
    for warning in ("W004", "W008", "W012", "W016", "W018"):
        assert f"security.{warning}" in result.stderr
    # Not W009 (a weak secret key): development mode generates a strong one.
    assert "security.W009" not in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = deploy_check(**PRODUCTION, DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert "DJANGO_PRODUCTION=true needs DJANGO_SECRET_KEY set and DJANGO_DEBUG false" in (
        result.stderr
    )


@pytest.fixture
def production_headers(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.django_db
@pytest.mark.usefixtures("production_headers")
def test_plain_http_is_redirected_except_health_checks():
    client = Client()
    response = client.get("/api/v1/model/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/model/"
    assert client.get("/api/v1/health/live/").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("production_headers")
def test_https_through_the_proxy_gets_hsts_and_the_security_headers():
    response = Client().get("/api/v1/model/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == ("max-age=31536000; includeSubDomains; preload")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
