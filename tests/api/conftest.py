import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def storage_per_test(isolated_storage):
    """Every test here writes media and model artefacts under its own folder."""


@pytest.fixture
def api():
    return APIClient()


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def operator(db) -> APIClient:
    """A token-authenticated user allowed to promote versions and change jobs."""
    user = User.objects.create_user("operator")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_modelversion", "change_job"])
    )
    return client_for(user)


@pytest.fixture
def viewer(db) -> APIClient:
    """A token-authenticated user without any permission."""
    return client_for(User.objects.create_user("viewer"))


@pytest.fixture(autouse=True)
def rate_limits_per_test(own_rate_limit_counters):
    """Each test counts requests under its own cache prefix on the real Redis."""
