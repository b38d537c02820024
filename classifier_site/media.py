"""Stored images: names that reveal nothing, and URLs that are signed and expire.

Every image URL the API, the dashboard and the admin hand out is made here, for a row
the caller may see; the media view (dashboard.views.media_file) serves a file only
for a valid, unexpired signature of its exact path. Nobody can fetch an image by
guessing its name, nor pass on a link that works for long.
"""

from __future__ import annotations

import math
import secrets
import time

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

_SIGNER_SALT = "classifier.media-url"
_NAME_SALT = "classifier.stored-file-name"
# Expiry times are rounded up to a whole step, so a page drawn twice within it shows
# the same URLs and the browser's cache serves them.
EXPIRY_STEP_SECONDS = 60

TRAINING_SCOPE = "training"


def user_scope(user) -> str:
    """The owner scope of a new upload's file name (see stored_name): the user's own;
    for an anonymous caller, one of this request's own, shared with nobody."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"anonymous:{secrets.token_hex(16)}"


def stored_name(folder: str, scope: str, sha256: str, extension: str) -> str:
    """A keyed name for stored content: an HMAC (from SECRET_KEY) of the owner scope
    and the content hash. Two owners' copies of one image get two files, and nobody
    without the key can work out a name from an image, so a name tells nothing about
    who else uploaded the same image. Within one scope, equal content shares a file."""
    digest = salted_hmac(_NAME_SALT, f"{scope}\n{sha256}", algorithm="sha256").hexdigest()
    return f"{folder}/{digest[:2]}/{digest}.{extension}"


def _signature(name: str, expires: int) -> str:
    return signing.Signer(salt=_SIGNER_SALT).signature(f"{name}\n{expires}")


def signed_path(name: str) -> str:
    """The URL path of stored file `name`, valid for MEDIA_URL_MAX_AGE_SECONDS."""
    lifetime = settings.MEDIA_URL_MAX_AGE_SECONDS
    expires = math.ceil((time.time() + lifetime) / EXPIRY_STEP_SECONDS) * EXPIRY_STEP_SECONDS
    query = f"expires={expires}&signature={_signature(name, expires)}"
    return f"/{settings.MEDIA_URL.strip('/')}/{name}?{query}"


def signed_url(request, name: str) -> str:
    """signed_path, absolute when there is a request to build it from."""
    path = signed_path(name)
    return request.build_absolute_uri(path) if request is not None else path


def seconds_left(name: str, expires: str | None, signature: str | None) -> int | None:
    """How long the signed URL of `name` stays valid; None when its signature is
    missing, wrong, for another path, or expired."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        return None
    if not constant_time_compare(signature, _signature(name, int(expires))):
        return None
    left = int(expires) - int(time.time())
    return left if left > 0 else None


def media_url(request, file) -> str:
    """A stored file's signed, expiring URL (only ever made for a row the caller may
    see), absolute when there is a request to build it from."""
    return signed_url(request, file.name)
