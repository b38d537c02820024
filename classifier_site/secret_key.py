"""The secret key of a deployment without DJANGO_SECRET_KEY: generated once, kept in a file.

Every process of the deployment (web, workers, beat) reads the same file, so sessions,
password-reset tokens and signed values made by one are valid in all. The file is
created whole or not at all: written to a private temporary file, then linked into
place, so a process starting at the same moment either wins the link or reads the
winner's key, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MINIMUM_LENGTH = 50


def shared_secret_key(path: Path) -> str:
    """The key in `path`, created with mode 0600 on first use."""
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(MINIMUM_LENGTH) + "\n")
            file.flush()
            os.fsync(file.fileno())
        # Another process that created it first wins: its key is the deployment's.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _read(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ImproperlyConfigured(
            f"{path} (the generated secret key) is readable by other users (mode {mode:o}): "
            f"run `chmod 600 {path}`, or set DJANGO_SECRET_KEY"
        )
    key = path.read_text().strip()
    if len(key) < MINIMUM_LENGTH:
        raise ImproperlyConfigured(
            f"{path} holds no usable secret key (under {MINIMUM_LENGTH} characters): "
            "delete it to have a new one generated, or set DJANGO_SECRET_KEY"
        )
    return key
