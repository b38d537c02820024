"""No Docker engine runs here, so the compose file's structure is checked instead."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_have_healthchecks(compose):
    assert set(compose["services"]) >= {"db", "web"}
    for name, service in compose["services"].items():
        assert "test" in service["healthcheck"], name


def test_web_waits_for_a_healthy_database_and_reads_configuration_from_the_environment(compose):
    web = compose["services"]["web"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    environment = web["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@db:5432/" in environment["DATABASE_URL"]
    assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")


def test_media_models_and_database_live_on_named_volumes(compose):
    web_volumes = compose["services"]["web"]["volumes"]
    assert "media:/srv/media" in web_volumes and "models:/srv/models" in web_volumes
    assert set(compose["volumes"]) >= {"media", "models", "postgres-data"}
    assert compose["services"]["web"]["environment"]["MEDIA_ROOT"] == "/srv/media"


def test_image_runs_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") == 2  # multi-stage
    assert "\nUSER classifier\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile
