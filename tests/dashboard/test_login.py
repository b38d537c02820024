import pytest
from django.contrib.auth.models import User

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
