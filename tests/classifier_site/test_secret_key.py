"""Without DJANGO_SECRET_KEY, the key is generated once, kept in a 0600 file, and
shared by every process of the deployment (web, workers, beat)."""

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from classifier_site.secret_key import shared_secret_key

ROOT = Path(__file__).resolve().parent.parent.parent


def in_fresh_process(code: str, **environment: str) -> str:
    """Runs `code` after Django's setup in a new process; returns what it printed."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "classifier_site.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def test_processes_starting_together_generate_one_key_and_keep_it_private(tmp_path):
    key_file = tmp_path / "data" / "secret_key"
    with ThreadPoolExecutor(4) as pool:
        keys = set(
            pool.map(
                lambda _: in_fresh_process(PRINT_KEY, DJANGO_SECRET_KEY_FILE=str(key_file)),
                range(4),
            )
        )
    assert keys == {key_file.read_text().strip()}
    assert len(keys.pop()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in key_file.parent.iterdir()] == ["secret_key"]  # no leftovers


def test_a_value_signed_by_one_process_is_valid_in_another_started_later(tmp_path):
    """As a session made by the web server must be for the next web server, and a
    signed value made by a worker for the web."""
    environment = {"DJANGO_SECRET_KEY_FILE": str(tmp_path / "secret_key")}
    signed = in_fresh_process(
        "from django.core import signing; print(signing.dumps('job 7'))", **environment
    )
    code = f"from django.core import signing; print(signing.loads({signed!r}))"
    assert in_fresh_process(code, **environment) == "job 7"


def test_the_configured_key_wins_and_no_file_is_written(tmp_path):
    key_file = tmp_path / "secret_key"
    key = "k" * 60
    assert (
        in_fresh_process(PRINT_KEY, DJANGO_SECRET_KEY=key, DJANGO_SECRET_KEY_FILE=str(key_file))
        == key
    )
    assert not key_file.exists()


def test_the_key_survives_restarts(tmp_path):
    key_file = tmp_path / "secret_key"
    assert shared_secret_key(key_file) == shared_secret_key(key_file)


def test_a_key_file_others_can_read_is_refused(tmp_path):
    key_file = tmp_path / "secret_key"
    shared_secret_key(key_file)
    key_file.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match=r"readable by other users.*chmod 600"):
        shared_secret_key(key_file)


def test_an_empty_key_file_is_refused_rather_than_used(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.touch(mode=0o600)
    with pytest.raises(ImproperlyConfigured, match="holds no usable secret key"):
        shared_secret_key(key_file)
