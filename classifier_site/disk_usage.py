"""Disk use of the media and models folders, for the dashboard's overview.

Measuring walks every file, which is too slow for a page view with a million
uploads: the scheduled purge (predictions.retention.run_scheduled) measures and
stores the result in the cache; a page reads the last measurement. The free space
of each disk is one statvfs call, read live.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

CACHE_KEY = "classifier:disk-usage"


def measure(root: Path) -> dict[str, int]:
    """Bytes and files under `root` (0 and 0 if it does not exist)."""
    total = files = 0
    pending = [str(root)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                        files += 1
                except FileNotFoundError:
                    continue  # deleted while walking
    return {"bytes": total, "files": files}


def record() -> dict:
    """Measure both folders and keep the result (no expiry) for the overview."""
    usage = {
        "media": measure(Path(settings.MEDIA_ROOT)),
        "models": measure(Path(settings.MODELS_DIR)),
        "measured_at": timezone.now().isoformat(),
    }
    try:
        cache.set(CACHE_KEY, usage, None)
    except redis.RedisError:
        logger.warning("disk use measured but not kept: the cache is unavailable")
    return usage


def latest() -> dict | None:
    """The last measurement, or None (not measured yet, or the cache is down)."""
    try:
        return cache.get(CACHE_KEY)
    except redis.RedisError:
        return None


def free_bytes(root: Path) -> int | None:
    try:
        return shutil.disk_usage(root).free
    except OSError:
        return None
