import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def ensure_admin() -> str:
    output = StringIO()
    call_command("ensure_admin", "--base-url", "http://example.test:8000", stdout=output)
    return output.getvalue()


def test_first_start_creates_an_admin_whose_printed_password_logs_in():
    output = ensure_admin()
    password = re.search(r"created user 'admin' with password (\S+)", output).group(1)
    assert "http://example.test:8000/admin/" in output
    user = authenticate(username="admin", password=password)
    assert user is not None and user.is_superuser and user.is_staff


def test_later_starts_name_the_superusers_and_never_print_a_password():
    first = re.search(r"password (\S+)", ensure_admin()).group(1)
    User.objects.create_superuser("zoe", password="x")
    output = ensure_admin()
    assert "log in as admin, zoe" in output
    assert first not in output
    assert User.objects.filter(is_superuser=True).count() == 2


def test_an_ordinary_user_called_admin_is_not_promoted():
    User.objects.create_user("admin", password="x")
    with pytest.raises(CommandError, match="not an active superuser"):
        ensure_admin()
    assert not User.objects.get(username="admin").is_superuser
