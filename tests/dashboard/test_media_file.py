"""/media/...: a stored image for a signed, unexpired URL of its exact path, streamed
by Django or handed to nginx (X-Accel-Redirect); anything else is refused in JSON."""

import time

import pytest
from django.test import Client

from classifier_site import media

pytestmark = pytest.mark.django_db

NAME = "plots/a.png"


@pytest.fixture
def stored(settings):
    (settings.MEDIA_ROOT / "plots").mkdir(parents=True)
    (settings.MEDIA_ROOT / NAME).write_bytes(b"image bytes")


def with_signature(name: str, expires: int) -> str:
    return f"/media/{name}?expires={expires}&signature={media._signature(name, expires)}"


def test_a_signed_url_is_streamed_and_cached_privately_until_it_expires(client, settings, stored):
    settings.MEDIA_URL_MAX_AGE_SECONDS = 600
    response = client.get(media.signed_path(NAME))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"image bytes"
    assert response["Content-Type"] == "image/png"
    cache, max_age = response["Cache-Control"].split(", max-age=")
    assert cache == "private" and 600 <= int(max_age) <= 600 + media.EXPIRY_STEP_SECONDS


@pytest.mark.parametrize(
    "url",
    [
        f"/media/{NAME}",  # no signature
        f"/media/{NAME}?expires=9999999999",
        f"/media/{NAME}?expires=9999999999&signature=forged",
        with_signature(NAME, int(time.time()) - 1),  # expired
        with_signature("plots/b.png", 9_999_999_999).replace("plots/b.png", NAME),  # other path
        with_signature(NAME, 9_999_999_999).replace("9999999999", "9999999998", 1),  # tampered
    ],
    ids=["unsigned", "no-signature", "forged", "expired", "other-path", "tampered-expiry"],
)
def test_a_url_without_a_valid_signature_is_refused_in_json(client, stored, url):
    response = client.get(url)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "this image link is invalid or has expired; reload the page"
    }


def test_behind_nginx_the_answer_is_an_internal_redirect_without_a_body(client, settings, stored):
    settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
    response = client.get(media.signed_path(NAME))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{NAME}"
    assert response.content == b""
    assert "Content-Type" not in response  # nginx sets the file's own
    assert response["Cache-Control"].startswith("private, max-age=")
    assert client.get(f"/media/{NAME}").status_code == 403  # checked first all the same


def test_a_missing_file_is_a_json_404(client, stored):
    response = client.get(media.signed_path("plots/gone.png"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no such image"}


def test_nothing_outside_the_media_folder_even_when_signed(settings, stored, tmp_path):
    (tmp_path / "secret.txt").write_text("no")
    client = Client(raise_request_exception=False)
    assert client.get(media.signed_path("../secret.txt")).status_code == 400
    assert client.get(media.signed_path("%2e%2e/secret.txt")).status_code in {400, 403}
