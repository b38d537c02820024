from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in accounts and API tokens: the management commands that make them."""

    name = "accounts"
    verbose_name = "Accounts"
