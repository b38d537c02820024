"""A private Django environment for the benchmark scripts: its own SQLite database,
media and model folders in a new temporary folder, and Redis database 14
(`BENCH_REDIS_URL`), so that a benchmark never touches the service's data."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def set_up(prefix: str, **environment: str) -> tuple[Path, str]:
    """Configure and start Django; returns (the scratch folder, the Redis URL).
    Call before importing anything that needs settings."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="classifier_site.settings",
        SQLITE_PATH=str(scratch / "db.sqlite3"),
        MEDIA_ROOT=str(scratch / "media"),
        MODELS_DIR=str(scratch / "models"),
        REDIS_URL=redis_url,
        **environment,
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return scratch, redis_url
