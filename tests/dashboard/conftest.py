import pytest
from django.contrib.auth.models import Permission, User


@pytest.fixture(autouse=True)
def storage_and_rate_limits(isolated_storage, own_rate_limit_counters):
    """Own media and model folders, and rate-limit counters, per test."""


@pytest.fixture
def sign_in(client, db):
    """sign_in(*codenames, staff=False): the client's session becomes a new user's
    holding those permissions."""

    def sign_in_as(*codenames: str, staff: bool = False, username: str = "person") -> User:
        user = User.objects.create_user(username, password="a long test password", is_staff=staff)
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return user

    return sign_in_as
