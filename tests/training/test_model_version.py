import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from training.models import ModelVersion


def make_version(number: int, status: str = "candidate") -> ModelVersion:
    return ModelVersion.objects.create(
        number=number,
        artifact_path=f"run-{number}",
        status=status,
        class_names=["a", "b"],
        metrics={"accuracy": 0.5},
        dataset_fingerprint="0" * 64,
    )


@pytest.mark.django_db
def test_versions_are_immutable_except_for_their_status():
    version = make_version(1)
    version.metrics = {"accuracy": 0.99}
    with pytest.raises(ValidationError, match="immutable"):
        version.save()
    with pytest.raises(ValidationError, match="immutable"):
        version.save(update_fields=["metrics"])
    assert ModelVersion.objects.get().metrics == {"accuracy": 0.5}


@pytest.mark.django_db
def test_promote_retires_the_previous_production_version():
    first, second = make_version(1), make_version(2)
    first.promote()
    second.promote()
    first.refresh_from_db()
    assert first.status == "retired"
    assert ModelVersion.production() == second
    assert second.promoted_at is not None


@pytest.mark.django_db
def test_database_refuses_two_production_versions():
    make_version(1, status="production")
    with pytest.raises(IntegrityError):
        make_version(2, status="production")
