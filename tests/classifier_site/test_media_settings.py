"""The media settings fail loudly at start: a malformed MEDIA_ACCEL_REDIRECT, and the
retired SERVE_MEDIA (whose meaning, "Django serves media or not", no longer exists)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def check(**environment: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SERVE_", "MEDIA_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("environment", "complaint"),
    [
        ({"MEDIA_ACCEL_REDIRECT": "protected-media"}, "must start and end with '/'"),
        ({"SERVE_MEDIA": "false"}, "SERVE_MEDIA is gone"),
        ({"MEDIA_URL_MAX_AGE_SECONDS": "5"}, "below the minimum 60"),
    ],
)
def test_bad_media_settings_stop_the_start(environment, complaint):
    result = check(**environment)
    assert result.returncode != 0 and complaint in result.stderr


def test_an_internal_location_is_accepted():
    assert check(MEDIA_ACCEL_REDIRECT="/protected-media/").returncode == 0
