from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from classifier_site.env import env_bool, env_float, env_int, env_list, env_path, env_str


def test_unset_variables_give_defaults(monkeypatch):
    monkeypatch.delenv("SETTING", raising=False)
    assert env_str("SETTING", "x") == "x"
    assert env_bool("SETTING", True) is True
    assert env_int("SETTING", 3) == 3
    assert env_float("SETTING", 0.5) == 0.5
    assert env_list("SETTING", ["a"]) == ["a"]
    assert env_path("SETTING", Path("/d")) == Path("/d")


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("off", False), ("", False)]
)
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("SETTING", raw)
    assert env_bool("SETTING", not expected) is expected


def test_values_are_parsed(monkeypatch):
    monkeypatch.setenv("SETTING", "12")
    assert env_int("SETTING", 0) == 12
    assert env_float("SETTING", 0.0) == 12.0
    monkeypatch.setenv("SETTING", " a, b ,,c ")
    assert env_list("SETTING", []) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        (lambda: env_bool("SETTING", False), "maybe", "SETTING='maybe' is not a boolean"),
        (lambda: env_int("SETTING", 0), "ten", "SETTING='ten' is not an integer"),
        (lambda: env_int("SETTING", 0, minimum=1), "0", "SETTING=0 is below the minimum 1"),
        (lambda: env_int("SETTING", 0, maximum=19), "20", "SETTING=20 is above the maximum 19"),
        (lambda: env_float("SETTING", 0.0), "fast", "SETTING='fast' is not a number"),
    ],
)
def test_invalid_values_fail_loudly_naming_the_variable(monkeypatch, reader, raw, message):
    monkeypatch.setenv("SETTING", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_production_mode_refuses_to_start_without_a_secret_key():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import classifier_site.settings"],
        env={"DJANGO_PRODUCTION": "true", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DJANGO_PRODUCTION=true needs DJANGO_SECRET_KEY" in result.stderr
