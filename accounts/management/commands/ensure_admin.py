"""Make sure someone can log in to the admin: `make run` calls this at every start."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

ADMIN_USERNAME = "admin"
GENERATED_PASSWORD_BYTES = 12


class Command(BaseCommand):
    help = (
        "Say how to log in to the admin; when no active superuser exists, create "
        f"{ADMIN_USERNAME!r} with a generated password that is printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="for messages")

    def handle(self, *args, base_url: str, **options) -> None:
        admin_url = f"{base_url.rstrip('/')}/admin/"
        users = get_user_model()
        names = sorted(
            users.objects.filter(is_superuser=True, is_active=True).values_list(
                "username", flat=True
            )
        )
        if names:
            self.stdout.write(
                f"Admin: {admin_url} - log in as {', '.join(names)} (forgotten password: "
                "`.venv/bin/python manage.py changepassword NAME`)"
            )
            return
        if users.objects.filter(username=ADMIN_USERNAME).exists():
            raise CommandError(
                f"user {ADMIN_USERNAME!r} exists but is not an active superuser; make a "
                "login with `.venv/bin/python manage.py createsuperuser`"
            )
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        users.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
        self.stdout.write(
            self.style.WARNING(
                f"Admin: {admin_url} - created user {ADMIN_USERNAME!r} with password "
                f"{password}\n       shown only now (stored hashed); change it with "
                f"`.venv/bin/python manage.py changepassword {ADMIN_USERNAME}`"
            )
        )
