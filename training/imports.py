"""Store images as `TrainingImage` rows plus files in media, named by a keyed hash of
their owner scope and content (classifier_site.media.stored_name).

Idempotent by content: an image whose sha256 is already stored is skipped, so an
import can be run again (or resumed after a crash) without adding duplicates.

What is stored of an upload is its re-encoded copy (ml_core.preprocessing.
reencode_for_storage: upright, no metadata, longest side capped). The `sha256`
columns keep naming the bytes as uploaded, the image's identity for dedupe and
idempotency (as before the copies were re-encoded, so rows stored earlier still
match); the stored file is named by the sha256 of its own bytes, so that storage
stays content-addressed and a file's name always tells whether it is intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction

from classifier_site.media import TRAINING_SCOPE, stored_name
from classifier_site.uploads import offload
from ml_core.datasets import CifarDataset, ClassFolderReader
from ml_core.preprocessing import InvalidImageError, PreparedImage, encode_png, prepare_image
from training.models import TrainingImage, check_label, check_new_classes, validate_label

logger = logging.getLogger(__name__)

INSERT_BATCH_SIZE = 500
# Candidates are stored a chunk at a time; a chunk also holds at most this many bytes
# of files (500 stored copies of up to 3 MB each would be 1.5 GB).
INSERT_BATCH_BYTES = 32 * 1024 * 1024
_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif", "MPO": "jpg"}

# An upload's bytes, or a function reading them (called in a decode thread, so that
# a request never holds every file it was sent).
Content = bytes | Callable[[], bytes]


@dataclass(frozen=True)
class Candidate:
    content: bytes  # the file to store
    label: str
    split: str
    original_name: str
    extension: str
    sha256: str  # the image's identity: of the bytes as uploaded (see the module doc)


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


@dataclass
class ImportSummary:
    created: Counter = field(default_factory=Counter)  # (split, label) → images added
    already_present: int = 0
    rejected: list[str] = field(default_factory=list)  # "name: reason"

    @property
    def created_total(self) -> int:
        return sum(self.created.values())

    def created_in_split(self, split: str) -> int:
        return sum(count for (row_split, _), count in self.created.items() if row_split == split)


def _extension(image_format: str) -> str:
    return _EXTENSIONS.get(image_format, image_format.lower())


def store_image_file(folder: str, content: bytes, image_format: str, scope: str) -> tuple[str, str]:
    """Store `content` under a name keyed by its owner `scope` (user_scope) and its
    sha256; returns (name, sha256)."""
    sha256 = hashlib.sha256(content).hexdigest()
    name = stored_name(folder, scope, sha256, _extension(image_format))
    return _store_file(name, content, sha256), sha256


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


def _store_file(name: str, content: bytes, sha256: str) -> str:
    """Write the file unless an intact copy is already there (left by an earlier run).

    A failed write leaves no partial file and raises StorageFull."""
    try:
        saved = _create_file(name, content)
        if saved is None:
            if _is_intact(name, sha256):
                return name
            default_storage.delete(name)  # a partial write from an interrupted run
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


def _chunks(items: Iterable[Candidate]) -> Iterator[list[Candidate]]:
    """At most INSERT_BATCH_SIZE candidates and about INSERT_BATCH_BYTES at a time."""
    chunk: list[Candidate] = []
    size = 0
    for item in items:
        chunk.append(item)
        size += len(item.content)
        if len(chunk) >= INSERT_BATCH_SIZE or size >= INSERT_BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def store_candidates(
    candidates: Iterable[Candidate],
    source: str,
    summary: ImportSummary,
    on_progress: Callable[[int], None] = lambda count: None,
) -> ImportSummary:
    for chunk in _chunks(candidates):
        by_hash = {candidate.sha256: candidate for candidate in chunk}
        summary.already_present += len(chunk) - len(by_hash)  # duplicates within the chunk
        present = set(
            TrainingImage.objects.filter(sha256__in=by_hash).values_list("sha256", flat=True)
        )
        summary.already_present += len(present)
        rows = []
        for sha256, candidate in by_hash.items():
            if sha256 in present:
                continue
            file_sha256 = hashlib.sha256(candidate.content).hexdigest()
            name = _store_file(
                stored_name("training", TRAINING_SCOPE, file_sha256, candidate.extension),
                candidate.content,
                file_sha256,
            )
            rows.append(
                TrainingImage(
                    image=name,
                    sha256=sha256,
                    label=candidate.label,
                    split=candidate.split,
                    source=source,
                    original_name=candidate.original_name[:255],
                )
            )
        # ignore_conflicts: a concurrent import of the same content is not an error.
        TrainingImage.objects.bulk_create(rows, ignore_conflicts=True)
        summary.created.update((row.split, row.label) for row in rows)
        on_progress(len(chunk))
    return summary


def cifar_candidates(dataset: CifarDataset) -> Iterator[Candidate]:
    for split, arrays in (("train", dataset.train), ("test", dataset.test)):
        for index, (pixels, label_index) in enumerate(
            zip(arrays.images, arrays.labels, strict=True)
        ):
            content = encode_png(pixels)  # stored as it is: no metadata, 32x32
            yield Candidate(
                content=content,
                label=dataset.class_names[label_index],
                split=split,
                original_name=f"cifar-{split}-{index:05d}.png",
                extension="png",
                sha256=hashlib.sha256(content).hexdigest(),
            )


def import_cifar_dataset(
    dataset: CifarDataset, on_progress: Callable[[int], None] = lambda count: None
) -> ImportSummary:
    for name in dataset.class_names:
        validate_label(name)
    return store_candidates(
        cifar_candidates(dataset), TrainingImage.Source.CIFAR, ImportSummary(), on_progress
    )


def _candidate(upload: PreparedUpload, label: str, split: str, name: str) -> Candidate:
    stored = upload.image
    return Candidate(
        content=stored.stored,
        label=label,
        split=split,
        original_name=name,
        extension=_extension(stored.stored_format),
        sha256=upload.sha256,
    )


def _folder_candidates(
    reader: ClassFolderReader,
    split: str,
    summary: ImportSummary,
    on_progress: Callable[[int], None],
) -> Iterator[Candidate]:
    for entry in reader.entries:
        try:
            validate_label(entry.label)
            upload = offload(prepare_upload, partial(reader.read, entry))
        except (ValidationError, InvalidImageError) as exc:
            reason = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            summary.rejected.append(f"{entry.label}/{entry.name}: {reason}")
            on_progress(1)
            continue
        yield _candidate(upload, entry.label, split, entry.name)


def import_class_folder(
    reader: ClassFolderReader,
    split: str,
    *,
    allow_new: bool,
    on_progress: Callable[[int], None] = lambda count: None,
) -> ImportSummary:
    """Import `<class>/<image>` files; undecodable files and bad labels are rejected.

    A folder naming no known class is refused (ValidationError, code unknown_label)
    before anything is stored, unless `allow_new`. A zip member that the reader
    refuses (DatasetError) stops the import."""
    check_new_classes([label for label in reader.labels if _is_valid(label)], allow_new)
    summary = ImportSummary()
    candidates = _folder_candidates(reader, split, summary, on_progress)
    return store_candidates(candidates, TrainingImage.Source.FOLDER, summary, on_progress)


def _is_valid(label: str) -> bool:
    try:
        validate_label(label)
    except ValidationError:
        return False
    return True


def import_uploads(
    files: list[tuple[str, Content]],
    label: str,
    split: str,
    summary: ImportSummary | None = None,
    source: str = TrainingImage.Source.UPLOAD,
    identities: list[str] | None = None,
    *,
    allow_new: bool,
) -> ImportSummary:
    """Uploaded files (or corrected predictions' images, with `source`), all with one
    label; files that do not decode are rejected. `identities`: each file's sha256
    when it is not that of its bytes (a prediction's stored copy keeps the sha256 of
    the upload it came from). An invalid label, or one naming no known class unless
    `allow_new`, raises ValidationError."""
    summary = summary or ImportSummary()
    check_label(label, allow_new)
    return store_candidates(
        _upload_candidates(files, label, split, summary, identities), source, summary
    )


def _upload_candidates(
    files: list[tuple[str, Content]],
    label: str,
    split: str,
    summary: ImportSummary,
    identities: list[str] | None,
) -> Iterator[Candidate]:
    for index, (name, content) in enumerate(files):
        try:
            upload = offload(prepare_upload, content)
        except InvalidImageError as exc:
            summary.rejected.append(f"{name}: {exc}")
            continue
        if identities is not None:
            upload = PreparedUpload(identities[index], upload.image)
        yield _candidate(upload, label, split, name)
