import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(settings):
    (settings.MEDIA_ROOT / "plots").mkdir(parents=True)
    (settings.MEDIA_ROOT / "plots" / "a.png").write_bytes(b"image bytes")


def test_served_when_serve_media_is_on(client, settings, stored):
    settings.SERVE_MEDIA = True
    response = client.get("/media/plots/a.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"image bytes"
    assert response["Content-Type"] == "image/png"


def test_not_served_when_a_web_server_serves_media(client, settings, stored):
    settings.SERVE_MEDIA = False
    assert client.get("/media/plots/a.png").status_code == 404


def test_nothing_outside_the_media_folder(settings, stored, tmp_path):
    settings.SERVE_MEDIA = True
    (tmp_path / "secret.txt").write_text("no")
    client = Client(raise_request_exception=False)
    assert client.get("/media/../secret.txt").status_code == 400
    assert client.get("/media/%2e%2e/secret.txt").status_code == 400
