"""What every API endpoint shares: the permission policy and JSON errors."""

from __future__ import annotations

from django.conf import settings
from rest_framework import permissions
from rest_framework.response import Response


class ReadOpenWriteWithPermission(permissions.DjangoModelPermissions):
    """Safe methods: anyone when API_ANONYMOUS_READ, else logged-in users.
    Writes: an authenticated user with the model permission (add/change/delete)."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return settings.API_ANONYMOUS_READ or bool(
                request.user and request.user.is_authenticated
            )
        return super().has_permission(request, view)


class CanPredict(permissions.BasePermission):
    """Predicting is open when API_ANONYMOUS_PREDICT, else needs a login."""

    def has_permission(self, request, view) -> bool:
        return settings.API_ANONYMOUS_PREDICT or bool(
            request.user and request.user.is_authenticated
        )


def requires(permission: str) -> type[permissions.BasePermission]:
    """A permission class: an authenticated user holding `permission`."""

    class Requires(permissions.IsAuthenticated):
        message = f"you need the {permission!r} permission"

        def has_permission(self, request, view) -> bool:
            return super().has_permission(request, view) and request.user.has_perm(permission)

    return Requires


def exception_handler(exc, context) -> Response | None:
    """DRF's handler; errors always carry a JSON body with a `detail` message."""
    # Imported here: rest_framework.views imports this module's permission class.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, list) or (isinstance(data, dict) and "detail" not in data):
        response.data = {"detail": "invalid input", "errors": data}
    return response


def error(status: int, detail: str, **extra) -> Response:
    return Response({"detail": detail, **extra}, status=status)
