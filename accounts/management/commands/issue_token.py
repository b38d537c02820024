from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of a user (creating the token, and with --create the user). "
        "--rotate replaces an existing token, revoking the old one; --revoke only revokes it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the user if missing")
        actions = parser.add_mutually_exclusive_group()
        actions.add_argument("--rotate", action="store_true", help="revoke and replace the token")
        actions.add_argument(
            "--revoke", action="store_true", help="revoke the token and issue none"
        )

    def handle(
        self, *args, username: str, create: bool, rotate: bool, revoke: bool, **options
    ) -> None:
        users = get_user_model().objects
        try:
            user = users.get(username=username)
        except users.model.DoesNotExist:
            if not create or revoke:
                raise CommandError(f"there is no user {username!r} (add --create)") from None
            user = users.create_user(username)
        if rotate or revoke:
            revoked, _ = Token.objects.filter(user=user).delete()
            if revoke:
                self.stdout.write(
                    f"revoked the token of {username}" if revoked else f"{username} had no token"
                )
                return
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
