"""Store images as `TrainingImage` rows plus files in media (classifier_site.
media_store): from a CIFAR archive, a folder or zip of class folders, or uploads.

Idempotent by content: an image whose sha256 (of the bytes as uploaded) is already
stored is skipped, so an import can be run again (or resumed after a crash) without
adding duplicates.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from django.core.exceptions import ValidationError

from classifier_site.media import TRAINING_SCOPE, stored_name
from classifier_site.media_store import (
    Content,
    PreparedUpload,
    extension_for,
    prepare_upload,
    store_file,
)
from classifier_site.uploads import offload
from ml_core.datasets import CifarDataset, ClassFolderReader
from ml_core.preprocessing import InvalidImageError, encode_png
from training.models import TrainingImage, check_label, check_new_classes, validate_label

logger = logging.getLogger(__name__)

INSERT_BATCH_SIZE = 500
# Candidates are stored a chunk at a time; a chunk also holds at most this many bytes
# of files (500 stored copies of up to 3 MB each would be 1.5 GB).
INSERT_BATCH_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Candidate:
    content: bytes  # the file to store
    label: str
    split: str
    original_name: str
    extension: str
    sha256: str  # the image's identity: of the bytes as uploaded (see the module doc)


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
    on_progress: Callable[[int], object] = lambda count: None,
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
            name = store_file(
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
    dataset: CifarDataset, on_progress: Callable[[int], object] = lambda count: None
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
        extension=extension_for(stored.stored_format),
        sha256=upload.sha256,
    )


def _folder_candidates(
    reader: ClassFolderReader,
    split: str,
    summary: ImportSummary,
    on_progress: Callable[[int], object],
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
    on_progress: Callable[[int], object] = lambda count: None,
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
    files: Sequence[tuple[str, Content]],
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
    files: Sequence[tuple[str, Content]],
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
