"""Deleting stored files without ever breaking a row that names one.

Stored names are content-addressed within an owner scope (media_store): one file may
be named by several rows (the same image uploaded twice; a batch item and its
prediction), so a file goes only once no row of any model names it. Retention
deletes the rows first and, once that has committed, offers their files here.

An upload may reuse an intact copy at the very moment a purge finds it unnamed
(media_store.store_file then marks it in use by its modification time before the
row that names it commits). So a file is first renamed aside (atomic), then its age
and the rows are checked again: a file used within REUSE_GUARD_SECONDS, or named
again, is put back; any other is deleted. An upload that finds the file renamed
aside writes a fresh copy.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import models

# Longer than any upload takes between storing a file and committing its row.
REUSE_GUARD_SECONDS = 3600
ASIDE_SUFFIX = ".deleting"
QUERY_BATCH = 500


@dataclass
class Removed:
    files: int = 0
    bytes: int = 0

    def add(self, other: Removed) -> None:
        self.files += other.files
        self.bytes += other.bytes


def file_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) that stores a media file name, across all apps: the
    rows that may name a stored file."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    ]


def _rows_naming(model: type[models.Model], field: str, names: list[str]):
    """The rows of `model` whose `field` is one of `names`. A model whose other rows
    only ever name files that rows of another model name too says which rows to
    search (`file_rows`, a Q: Prediction's single predictions, indexed by file)."""
    rows = model._default_manager.filter(**{f"{field}__in": names}).order_by()
    return rows.filter(model.file_rows) if hasattr(model, "file_rows") else rows


def _batches(names: Iterable[str], size: int = QUERY_BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def named_by_rows(names: Iterable[str]) -> set[str]:
    """Those of `names` that some row names."""
    found: set[str] = set()
    for batch in _batches(set(names)):
        for model, field in file_fields():
            rows = _rows_naming(model, field, batch)
            found.update(rows.values_list(field, flat=True).distinct())
    return found


def reference_counts(names: Iterable[str]) -> dict[str, int]:
    """How many rows name each of `names` (every model's file fields together)."""
    counts: dict[str, int] = {}
    for batch in _batches(set(names)):
        for model, field in file_fields():
            rows = _rows_naming(model, field, batch)
            for name, count in (
                rows.values(field).annotate(n=models.Count("pk")).values_list(field, "n")
            ):
                counts[name] = counts.get(name, 0) + count
    return counts


def size_of(name: str) -> int:
    try:
        return default_storage.size(name)
    except OSError:
        return 0


def remove_unnamed(names: Iterable[str]) -> Removed:
    """Delete each of these files that no row names and that no upload used within
    REUSE_GUARD_SECONDS (call after the deletion of the rows has committed)."""
    removed = Removed()
    for batch in _batches(set(names)):
        named = named_by_rows(batch)
        candidates = [name for name in batch if name not in named]
        if isinstance(default_storage, FileSystemStorage):
            removed.add(_remove_local(candidates))
        else:
            removed.add(_remove_remote(candidates))
    return removed


def _remove_local(names: list[str]) -> Removed:
    """Rename aside, check age and rows again, then delete or put back."""
    aside: dict[str, tuple[str, os.stat_result]] = {}
    for name in names:
        path = default_storage.path(name)
        try:
            os.rename(path, path + ASIDE_SUFFIX)
            aside[name] = (path, os.stat(path + ASIDE_SUFFIX))
        except FileNotFoundError:
            continue
    named = named_by_rows(aside) if aside else set()
    removed = Removed()
    now = time.time()
    for name, (path, stat) in aside.items():
        if name in named or now - stat.st_mtime < REUSE_GUARD_SECONDS:
            _put_back(path)
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ASIDE_SUFFIX)
            removed.files += 1
            removed.bytes += stat.st_size
    return removed


def _put_back(path: str) -> None:
    """A fresh copy written meanwhile has the same content: keep that one."""
    if os.path.exists(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ASIDE_SUFFIX)
    else:
        os.rename(path + ASIDE_SUFFIX, path)


def _remove_remote(names: list[str]) -> Removed:
    """Storage without an atomic rename: checked once, then deleted (an upload reusing
    the file in between is not guarded against)."""
    removed = Removed()
    now = time.time()
    for name in names:
        try:
            modified = default_storage.get_modified_time(name).timestamp()
            size = default_storage.size(name)
        except (OSError, NotImplementedError):
            continue
        if now - modified >= REUSE_GUARD_SECONDS:
            default_storage.delete(name)
            removed.files += 1
            removed.bytes += size
    return removed


def files_older_than(folder: str, seconds: float) -> Iterator[str]:
    """Names of the files under media `folder` not modified for `seconds`, a
    directory at a time (never the whole tree in memory). Files renamed aside by a
    purge that stopped halfway are given under their own name."""
    location = str(default_storage.location)  # type: ignore[attr-defined]  # FileSystemStorage
    root = os.path.join(location, folder)
    cutoff = time.time() - seconds
    for directory, _, filenames in os.walk(root):
        relative = os.path.relpath(directory, location)
        for filename in filenames:
            path = os.path.join(directory, filename)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_mtime < cutoff:
                    if filename.endswith(ASIDE_SUFFIX):
                        _put_back(path[: -len(ASIDE_SUFFIX)])
                        filename = filename[: -len(ASIDE_SUFFIX)]
                    yield f"{relative}/{filename}".replace(os.sep, "/")
