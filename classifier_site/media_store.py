"""Content-addressed media storage: uploads decoded and stored once, under names that
are a keyed hash of their owner scope and content (classifier_site.media.stored_name).

Used by every way an image comes in: single predictions and batch jobs
(predictions), training images (training.imports), and the API's error handler
(StorageFull is a 507).

What is stored of an upload is its re-encoded copy (ml_core.preprocessing.
reencode_for_storage: upright, no metadata, longest side capped). A row's `sha256`
names the bytes as uploaded, the image's identity for dedupe and idempotency; the
stored file is named by the sha256 of its own bytes, so that storage stays
content-addressed and a file's name always tells whether it is intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction

from classifier_site.media import stored_name
from ml_core.preprocessing import PreparedImage, prepare_image

logger = logging.getLogger(__name__)

_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif", "MPO": "jpg"}

# An upload's bytes, or a function reading them (called in a decode thread, so that
# a request never holds every file it was sent).
Content = bytes | Callable[[], bytes]


@dataclass(frozen=True)
class PreparedUpload:
    sha256: str  # of the bytes as uploaded
    image: PreparedImage  # the model's pixels and the re-encoded copy to store


def prepare_upload(content: Content) -> PreparedUpload:
    """Read, hash, decode and re-encode one upload: heavy, so callers run it through
    `offload`. Raises InvalidImageError."""
    data = content() if callable(content) else content
    image = prepare_image(data, settings.STORED_IMAGE_MAX_SIDE)
    return PreparedUpload(hashlib.sha256(data).hexdigest(), image)


def extension_for(image_format: str) -> str:
    return _EXTENSIONS.get(image_format, image_format.lower())


def store_image_file(folder: str, content: bytes, image_format: str, scope: str) -> tuple[str, str]:
    """Store `content` under a name keyed by its owner `scope` (user_scope) and its
    sha256; returns (name, sha256)."""
    sha256 = hashlib.sha256(content).hexdigest()
    name = stored_name(folder, scope, sha256, extension_for(image_format))
    return store_file(name, content, sha256), sha256


class StorageFull(Exception):
    """The media folder refused a write: disk full, read-only, or not a folder."""


# The names of the files written by the current all_or_nothing() block, if any.
_written_here: ContextVar[list[str] | None] = ContextVar("written_here", default=None)


@contextlib.contextmanager
def new_files_removed_on_error() -> Iterator[None]:
    """On any error, delete the files this block wrote. Files that were already
    stored are kept: other rows may name them."""
    written: list[str] = []
    reset = _written_here.set(written)
    try:
        yield
    except BaseException:
        for name in written:
            with contextlib.suppress(OSError):
                default_storage.delete(name)
        raise
    finally:
        _written_here.reset(reset)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """One upload's rows and files: on any error the rows roll back and the files
    this block wrote are deleted, so a failed upload leaves no orphan behind."""
    with new_files_removed_on_error(), transaction.atomic():
        yield


def _is_intact(name: str, sha256: str) -> bool:
    with default_storage.open(name, "rb") as existing:
        return hashlib.sha256(existing.read()).hexdigest() == sha256


def _remove_if_partial(name: str, sha256: str) -> None:
    """Delete what a failed write left at `name`, unless it is an intact copy (a
    concurrent upload of the same content may have written it)."""
    with contextlib.suppress(OSError):
        if default_storage.exists(name) and not _is_intact(name, sha256):
            default_storage.delete(name)


def store_file(name: str, content: bytes, sha256: str) -> str:
    """Write the file unless an intact copy is already there (left by an earlier run).

    A failed write leaves no partial file and raises StorageFull."""
    try:
        saved = _create_file(name, content)
        if saved is None:
            if _reused(name, sha256):
                return name
            default_storage.delete(name)  # a partial write, or renamed aside by a purge
            saved = _create_file(name, content)
    except OSError as exc:
        logger.error("cannot store %s: %s", name, exc)
        _remove_if_partial(name, sha256)
        raise StorageFull(
            f"the server cannot store uploads right now ({exc.strerror or type(exc).__name__})"
        ) from exc
    if saved is None:  # written by a concurrent upload of the same content meanwhile
        return name
    if (written := _written_here.get()) is not None:
        written.append(saved)
    return saved


def _reused(name: str, sha256: str) -> bool:
    """An intact copy is there: it is marked in use (its modification time) before the
    caller's row names it, so that a purge running meanwhile keeps it
    (classifier_site.media_cleanup). False if it is partial or a purge took it."""
    try:
        if not _is_intact(name, sha256):
            return False
        if isinstance(default_storage, FileSystemStorage):
            os.utime(default_storage.path(name))
    except FileNotFoundError:
        return False
    return True


def _create_file(name: str, content: bytes) -> str | None:
    """Create the file `name`; None if it exists already.

    The local media folder gets plain os calls: there, Django's storage.save() spent
    as long again on name checks, locking and chmod as on writing the file (about
    0.1 ms a file, a third of a batch job's submit). Names are hashes of the content
    (and its owner scope), so no other name is ever needed."""
    storage = default_storage
    # (A subclass may name or write files its own way: it keeps Django's path.)
    if storage.__class__ is not FileSystemStorage or storage.directory_permissions_mode:
        if storage.exists(name):
            return None
        return storage.save(name, ContentFile(content))
    path = storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return None
    with os.fdopen(descriptor, "wb") as file:
        if storage.file_permissions_mode is not None:
            os.fchmod(descriptor, storage.file_permissions_mode)
        file.write(content)
    return name
