"""Django configured in this process, for scripts that use the ORM directly."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def set_up_django(**environment: str) -> None:
    """Put `environment` into os.environ and start Django. Call before importing
    anything that needs settings."""
    os.environ.update(DJANGO_SETTINGS_MODULE="classifier_site.settings", **environment)
    import django

    django.setup()


def private_django(prefix: str, **environment: str) -> tuple[Path, str]:
    """Django on its own SQLite database, media and model folders in a new temporary
    folder, and Redis database 14 (`BENCH_REDIS_URL`), so that a benchmark never
    touches the service's data. Returns (the folder, the Redis URL)."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    set_up_django(
        SQLITE_PATH=str(scratch / "db.sqlite3"),
        MEDIA_ROOT=str(scratch / "media"),
        MODELS_DIR=str(scratch / "models"),
        REDIS_URL=redis_url,
        **environment,
    )
    return scratch, redis_url
