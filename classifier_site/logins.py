"""Sign-in throttling with django-axes: its backend, and the answer to a refused sign-in."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """axes' backend, except for authenticate() calls without a request: those come
    from code on the server (a management command, the test client's login()), not
    from a client whose attempts could be counted, and axes would raise on them."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """429 with Retry-After: a page for browsers, JSON for a caller that prefers it.

    Every refused attempt restarts the cool-off (axes' default), so the wait is the
    whole of it."""
    seconds = int(get_cool_off(request).total_seconds())
    detail = (
        f"too many failed sign-ins for this username from your address: try again in "
        f"{_duration(seconds)}"
    )
    response: HttpResponse
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        response = JsonResponse({"detail": detail, "retry_after_seconds": seconds}, status=429)
    else:
        context = {"retry_after": _duration(seconds)}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _duration(seconds: int) -> str:
    minutes = -(-seconds // 60)  # rounded up: never tell a client to come back too early
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
