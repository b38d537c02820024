from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
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


def test_revoked_token_gets_401_and_no_new_token_is_issued():
    User.objects.create_user("ann")
    token = issue("ann")
    assert issue("ann", "--revoke") == "revoked the token of ann"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/model-versions/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert not Token.objects.filter(user__username="ann").exists()
    assert issue("ann", "--revoke") == "ann had no token"


def test_a_token_deleted_in_the_admin_is_revoked(admin_client):
    ann = User.objects.create_user("ann")
    token = issue("ann")
    response = admin_client.post(f"/admin/authtoken/tokenproxy/{ann.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/model-versions/").status_code == 401
