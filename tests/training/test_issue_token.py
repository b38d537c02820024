from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def issue(*args) -> str:
    output = StringIO()
    call_command("issue_token", *args, stdout=output)
    return output.getvalue().strip()


def test_token_authenticates_the_user_and_is_stable():
    User.objects.create_user("ann")
    token = issue("ann")
    assert issue("ann") == token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post("/api/v1/model-versions/rollback/")
    assert response.status_code == 403  # authenticated, but not allowed


def test_rotating_revokes_the_old_token():
    User.objects.create_user("ann")
    old = issue("ann")
    new = issue("ann", "--rotate")
    assert new != old
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.post("/api/v1/model-versions/rollback/").status_code == 401


def test_unknown_user_needs_create():
    with pytest.raises(CommandError, match="there is no user 'bob'"):
        issue("bob")
    assert issue("bob", "--create")
    assert User.objects.filter(username="bob").exists()
