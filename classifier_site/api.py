"""What every API endpoint shares: the permission policy and JSON errors."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import django_filters
import redis
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse, QueryDict
from django.views import defaults
from django_ratelimit.core import get_usage
from kombu.exceptions import OperationalError as QueueError
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from classifier_site.backpressure import Refused
from classifier_site.media_store import StorageFull
from classifier_site.uploads import RequestTooLarge
from classifier_site.visibility import sees_everything

logger = logging.getLogger(__name__)

# What the mixins below are mixed into, for the type checker (object at run time)
if TYPE_CHECKING:
    from rest_framework.views import APIView

    _Serializer = serializers.Serializer
    _View = APIView
else:
    _Serializer = _View = object


class ReadOpenWriteWithPermission(permissions.DjangoModelPermissions):
    """Safe methods: anyone when API_ANONYMOUS_READ, else logged-in users.
    Writes: an authenticated user with the model permission (add/change/delete)."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return settings.API_ANONYMOUS_READ or bool(
                request.user and request.user.is_authenticated
            )
        return super().has_permission(request, view)


class RefuseUnknownFieldsMixin(_Serializer):
    """A request field the operation does not take is a 400 naming it, not silently
    ignored: `{"validation_fraction": 1.5}` must not start a job with the default.
    Read-only fields count as fields it does not take. Every request serializer of
    the API derives from StrictSerializer or StrictModelSerializer."""

    def to_internal_value(self, data):
        unexpected = {**self._unexpected_fields(data), **self._mistyped_fields(data)}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unexpected and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unexpected}) from exc
            raise
        if unexpected:
            raise serializers.ValidationError(unexpected)
        return value

    def _unexpected_fields(self, data) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}  # DRF itself refuses a body that is not an object
        writable = sorted(name for name, field in self.fields.items() if not field.read_only)
        takes = f"this operation takes {', '.join(writable)}" if writable else "it takes none"
        errors = {}
        for name in data:
            if name in writable:
                continue
            if name in self.fields:
                errors[name] = ["read-only: it cannot be set"]
            else:
                errors[name] = [f"unknown field; {takes}"]
        return errors

    def _mistyped_fields(self, data) -> dict[str, list[str]]:
        """Values of the type the schema gives: DRF alone reads a JSON 0 as false and
        "5" as 5, and an empty form value as no value at all."""
        if not isinstance(data, Mapping):
            return {}
        errors = {}
        form = isinstance(data, QueryDict)
        for name, field in self.fields.items():
            if field.read_only or name not in data:
                continue
            value = data[name]
            if form:
                if value == "" and not isinstance(field, serializers.CharField):
                    errors[name] = ["empty; leave the field out instead"]
            elif not (value is None and field.allow_null) and not _json_type_fits(field, value):
                errors[name] = [f"must be {_json_type_name(field)}"]
        return errors


def _json_type_fits(field: serializers.Field, value: object) -> bool:
    if isinstance(field, serializers.BooleanField):
        return isinstance(value, bool)
    if isinstance(field, serializers.IntegerField):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(field, serializers.FloatField):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(field, serializers.CharField):
        return isinstance(value, str)
    return True


def _json_type_name(field: serializers.Field) -> str:
    if isinstance(field, serializers.BooleanField):
        return "a JSON boolean (true or false)"
    if isinstance(field, serializers.CharField):
        return "a JSON string"
    return "a JSON number"


class StrictSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    pass


class Conflict(APIException):
    """A well-formed request that the current state refuses (a label naming a class
    the training set does not have): 409, with the problem named per field like a
    400's `errors`, so that the schema's valid requests are never 400s."""

    status_code = status.HTTP_409_CONFLICT
    summary = "the request conflicts with the current state"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)


class NoFieldsSerializer(StrictSerializer):
    """The body of a verb that takes none (promote, rollback, evaluate, cancel)."""


def refuse_any_field(request) -> None:
    """A 400 naming each field sent to a verb that takes none."""
    NoFieldsSerializer(data=request.data).is_valid(raise_exception=True)


def close_request_bodies(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: request bodies take no other properties
    than those listed (`additionalProperties: false`), as the strict serializers do."""
    components = result.get("components", {}).get("schemas", {})
    pending = [
        media["schema"]
        for operations in result.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    seen: set[str] = set()
    while pending:
        schema = pending.pop()
        if reference := schema.get("$ref"):
            name = reference.rsplit("/", 1)[-1]
            if name not in seen and name in components:
                seen.add(name)
                pending.append(components[name])
            continue
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
            pending.extend(schema["properties"].values())
        pending.extend(schema.get("allOf", []))
        if isinstance(schema.get("items"), dict):
            pending.append(schema["items"])
    return result


class CanPredict(permissions.BasePermission):
    """Predicting is open when API_ANONYMOUS_PREDICT, else needs a login."""

    def has_permission(self, request, view) -> bool:
        return settings.API_ANONYMOUS_PREDICT or bool(
            request.user and request.user.is_authenticated
        )


def _caller(group: str, request) -> str:
    """Per user when authenticated, else per client address (a missing address
    shares one bucket rather than crashing)."""
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{client_address(request) or 'unknown'}"


def client_address(request) -> str:
    """The caller's address, as rate limits and sign-in lockouts (django-axes) key it.

    Behind API_TRUSTED_PROXY_COUNT proxies, each appending the address it received the
    request from to X-Forwarded-For, the client's is the one the outermost proxy
    appended: that many entries from the right. Entries further left were written by
    the client and prove nothing. A header with fewer entries (the request skipped a
    proxy) or an entry that is no address falls back to the direct peer, REMOTE_ADDR,
    which the client cannot choose either."""
    peer = request.META.get("REMOTE_ADDR", "")
    count = settings.API_TRUSTED_PROXY_COUNT
    if not count:
        return peer
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(hops) < count:
        return peer
    try:
        return str(ipaddress.ip_address(hops[-count].strip()))
    except ValueError:
        return peer


class VersionNumberFilter(django_filters.NumberFilter):
    """A model version's number: "1.5" is a 400, not version 1; bounded as the
    column is (a larger number is no version, and too large for the database)."""

    # A version number: "1.5" is a 400, not version 1 (the stubs allow DecimalField only)
    field_class = forms.IntegerField  # type: ignore[assignment]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, min_value=1, max_value=2**31 - 1, **kwargs)


class RateLimit(BaseThrottle):
    """DRF throttle backed by django-ratelimit; DRF answers 429 with Retry-After."""

    def allow_request(self, request, view) -> bool:
        reading = request.method in permissions.SAFE_METHODS
        if reading:
            rate = settings.API_RATE_READ
        elif request.user and request.user.is_authenticated:
            rate = settings.API_RATE_USER
        else:
            rate = settings.API_RATE_ANONYMOUS
        try:
            usage = get_usage(
                request,
                group="api-read" if reading else "api-write",
                key=_caller,
                rate=rate,
                increment=True,
            )
        except redis.RedisError:
            logger.exception("rate-limit cache unavailable; allowing the request")
            return True
        self.seconds_left = max(usage["time_left"], 1) if usage else 1
        return not (usage and usage["should_limit"])

    def wait(self) -> float:
        return self.seconds_left


def may_view(permission: str) -> type[permissions.BasePermission]:
    """A permission class: staff, or an authenticated user holding `permission`."""

    class MayView(permissions.IsAuthenticated):
        message = f"only staff or users with the {permission!r} permission may see this"

        def has_permission(self, request, view) -> bool:
            return sees_everything(request.user, permission)

    return MayView


def requires(permission: str) -> type[permissions.BasePermission]:
    """A permission class: an authenticated user holding `permission`."""

    class Requires(permissions.IsAuthenticated):
        message = f"you need the {permission!r} permission"

        def has_permission(self, request, view) -> bool:
            return super().has_permission(request, view) and request.user.has_perm(permission)

    return Requires


def exception_handler(exc, context) -> Response | None:
    """DRF's handler; errors always carry a JSON body with a `detail` message."""
    # Imported here: rest_framework.views reads DEFAULT_PERMISSION_CLASSES, this
    # module's class, when it is imported (a circle DRF's settings loading demands).
    from rest_framework.views import exception_handler as drf_exception_handler

    response: Response | None
    if isinstance(exc, Refused):  # a quota (429) or a full service (503)
        response = error(exc.status, exc.detail, **exc.extra)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, StorageFull):
        return error(507, str(exc))
    if isinstance(exc, RequestTooLarge):
        return error(413, str(exc), limit=exc.limit)
    if unavailable := _unavailable_service(exc):
        response = error(503, f"{unavailable} is unavailable; try again in a few seconds")
        response["Retry-After"] = "5"
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, list):  # raised for the request as a whole, as a serializer names it
        data = {"non_field_errors": data}
    if isinstance(data, dict) and "detail" not in data:
        response.data = {"detail": getattr(exc, "summary", "invalid input"), "errors": data}
    return response


def _unavailable_service(exc: Exception) -> str | None:
    """Which backing service a connection failure came from, if it is one: clients
    get a 503 to retry, not a 500 (the fault tests restart each of them)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return "the database"
    if isinstance(exc, QueueError | redis.ConnectionError | redis.TimeoutError):
        return "the task queue (Redis)"
    return None


def error(status: int, detail: str, **extra) -> Response:
    return Response({"detail": detail, **extra}, status=status)


class RefuseOddQueryParameters:
    """Middleware: under /api/, a query parameter sent more than once (`?page=1&page=2`)
    or with an empty value (`?status=`) is a 400 naming it. No operation takes a list
    there, Django would silently keep the last value, and django-filter would read an
    empty value as no filter at all: leave out a parameter you do not mean."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if _wants_json(request):
            errors = {}
            for name, values in request.GET.lists():
                if len(values) > 1:
                    errors[name] = ["given more than once; send it once"]
                elif values == [""]:
                    errors[name] = ["empty; leave the parameter out instead"]
            if errors:
                return JsonResponse({"detail": "invalid input", "errors": errors}, status=400)
        return self.get_response(request)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """Django's 404 page, or a JSON body under /api/."""
    if _wants_json(request):
        return JsonResponse({"detail": f"no such endpoint: {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """Requests Django itself refuses before a view runs (too many files or fields,
    form fields over the memory limit): a JSON body under /api/ saying which limit."""
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, TooManyFilesSent):
        detail = f"at most {settings.API_MAX_FILES} files per request"
    elif isinstance(exception, RequestDataTooBig):
        detail = f"the form fields exceed {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
    elif isinstance(exception, TooManyFieldsSent):
        detail = f"at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields per request"
    else:
        detail = "bad request"
    return JsonResponse({"detail": detail}, status=400)


def server_error(request):
    """A 500 never shows a stack trace or a server path; under /api/ it is JSON."""
    if _wants_json(request):
        return JsonResponse({"detail": "internal error; it has been logged"}, status=500)
    return defaults.server_error(request)


def check_upload_size(upload) -> None:
    """Refuse empty and oversized files before reading them."""
    if upload.size == 0:
        raise ValidationError(f"{upload.name}: the file is empty (0 bytes)")
    if upload.size > settings.API_MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"{upload.name}: the file is {upload.size} bytes; "
            f"the limit is {settings.API_MAX_UPLOAD_BYTES}"
        )


def check_uploads(uploads: list) -> list:
    if len(uploads) > settings.API_MAX_FILES:
        raise ValidationError(f"at most {settings.API_MAX_FILES} files per request")
    for upload in uploads:
        check_upload_size(upload)
    return uploads


class MultipartPostMixin(_View):
    """Creating (a POST to the collection) takes multipart uploads; other verbs keep
    the default parsers, so that a body sent to one that takes none (cancel) is told
    which fields it may not send, whatever its encoding."""

    def get_parsers(self):
        request, actions = self.request, getattr(self, "action_map", None) or {}
        if request is not None and actions.get((request.method or "").lower()) == "create":
            return [MultiPartParser()]
        return super().get_parsers()
