import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from training.models import ModelVersion, Promotion, RollbackError


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


@pytest.mark.django_db
def test_rollback_walks_back_through_promotions_like_a_stack():
    first, second, third = make_version(1), make_version(2), make_version(3)
    for version in (first, second, third):
        version.promote()
    assert ModelVersion.rollback() == second
    assert ModelVersion.production() == second
    assert ModelVersion.rollback() == first
    assert ModelVersion.production() == first
    third.refresh_from_db()
    assert third.status == "retired"


@pytest.mark.django_db
def test_rollback_without_an_earlier_version_is_refused():
    make_version(1).promote()
    with pytest.raises(RollbackError, match="no earlier production version"):
        ModelVersion.rollback()
    assert ModelVersion.production().number == 1


@pytest.mark.django_db
def test_promoting_the_production_version_again_changes_nothing():
    version = make_version(1)
    version.promote()
    version.promote()
    assert Promotion.objects.count() == 1
