from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of a user (creating the token, and with --create the user). "
        "--rotate replaces an existing token, revoking the old one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the user if missing")
        parser.add_argument("--rotate", action="store_true", help="revoke and replace the token")

    def handle(self, *args, username: str, create: bool, rotate: bool, **options) -> None:
        users = get_user_model().objects
        try:
            user = users.get(username=username)
        except users.model.DoesNotExist:
            if not create:
                raise CommandError(f"there is no user {username!r} (add --create)") from None
            user = users.create_user(username)
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
