"""The OpenAPI schema as the contract: every operation lists every error status it can
answer with, each with the one JSON error body the API sends (`Error`).

drf-spectacular documents what a view's `@extend_schema` says; this AutoSchema adds
the errors that come from the machinery every view shares, read off the view itself
(authentication, permissions, throttles, parsers, pagination, path parameters), and
gives the `Error` body to every error status a view declares without a body. A view
only declares the errors of its own logic, as `OpenApiResponse(description=...)`
(a 409, a 507): the body and the headers come from here.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, get_manager, get_view_model
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# What the files of the upload fields hold (the API's one naming convention): the
# `encoding` of multipart bodies says so, and Schemathesis sends real images and zips.
UPLOAD_CONTENT_TYPES = {"image": "image/*", "images": "image/*", "archive": "application/zip"}
# Django reads a part without a filename as a text field, not a file.
FILE_PART_HEADERS = {
    "Content-Disposition": {
        "description": "Each file is a part with a filename.",
        "required": True,
        "schema": {"type": "string", "example": 'form-data; name="images"; filename="a.png"'},
    }
}
NO_NUL = "^[^\\u0000]*$"
# A query parameter's form field attribute, and the JSON Schema keyword that says it.
BOUNDS = {"min_value": "minimum", "max_value": "maximum", "max_length": "maxLength"}


# What a job submit answers when backpressure refuses it (classifier_site.backpressure).
OVER_QUOTA = OpenApiResponse(description="over a quota of the caller's (named in `quota`)")
SERVICE_FULL = OpenApiResponse(description="the service is full (named in `service_limit`)")


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the API (classifier_site.api.exception_handler,
    not_found, bad_request, server_error, the request-size middleware)."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    # The stubs take `errors` for Serializer.errors (a declared field replaces it)
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        required=False,
        help_text="Invalid input: the messages per request field or query parameter "
        "(`non_field_errors` for the request as a whole); a field's value is a list of "
        "messages, or per list item or per key an object of them.",
    )
    limit = serializers.IntegerField(
        required=False,
        help_text="413: the limit the request is over (bytes, pixels or images); 429: the "
        "quota's limit; 503: the service limit's value.",
    )
    quota = serializers.CharField(
        required=False,
        help_text="429: the caller's quota that is full (`queued_images`, `active_jobs`, "
        "`concurrent_submits`).",
    )
    service_limit = serializers.CharField(
        required=False,
        help_text="503: the service-wide limit that is reached (`queued_images`, "
        "`queued_messages`, `media_free_bytes`).",
    )
    in_use = serializers.IntegerField(
        required=False, help_text="429 and 503: what is in use of `limit` now."
    )


RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 0},
}


class ContractAutoSchema(AutoSchema):
    """Adds the errors every view can give to the ones its `@extend_schema` declares;
    says which operations anonymous callers may use (as the settings stand), which
    files the uploads take, and which fields a request must send one of (a request
    serializer's `exactly_one_of` and `field_requires`)."""

    def get_auth(self):
        auths = super().get_auth()
        if {} not in auths and self._open_to_anonymous_callers():
            auths.append({})  # no credentials needed (API_ANONYMOUS_READ / _PREDICT)
        return auths

    def _open_to_anonymous_callers(self) -> bool:
        anonymous = SimpleNamespace(method=self.method.upper(), user=AnonymousUser())
        try:
            return all(
                # Only the method and user of a request are needed to ask a permission
                p.has_permission(anonymous, self.view)  # type: ignore[arg-type]
                for p in self.view.get_permissions()
            )
        except Exception:  # a permission that needs more of a request than this
            return False

    def _get_filter_parameters(self):
        """Each filter's bounds (its form field's min_value, max_value, max_length), and
        no empty values: an empty query parameter is a 400 (RefuseOddQueryParameters)."""
        parameters = super()._get_filter_parameters()
        fields = self._filter_form_fields() if parameters else {}
        for parameter in parameters:
            schema, field = parameter["schema"], fields.get(parameter["name"])
            for attribute, keyword in BOUNDS.items():
                if getattr(field, attribute, None) is not None:
                    schema[keyword] = getattr(field, attribute)
            if schema.get("type") == "string" and "enum" not in schema:
                schema.setdefault("minLength", 1)
                if "format" not in schema:  # Django's form fields refuse NUL characters
                    schema.setdefault("pattern", NO_NUL)
        return parameters

    def _filter_form_fields(self) -> dict:
        model = get_view_model(self.view)
        backends = self.get_filter_backends()
        if model is None or not backends:
            return {}
        filterset = backends[0]().get_filterset_class(self.view, get_manager(model).none())
        if filterset is None:
            return {}
        return {name: fltr.field for name, fltr in filterset.base_filters.items()}

    def _get_pagination_parameters(self):
        parameters = super()._get_pagination_parameters()
        for parameter in parameters:
            if parameter["name"] == "page":
                parameter["schema"]["minimum"] = 1
        return parameters

    def _request_takes_files(self) -> bool:
        serializer = force_instance(self.get_request_serializer())
        return any(
            isinstance(field, serializers.FileField)
            or isinstance(getattr(field, "child", None), serializers.FileField)
            for field in getattr(serializer, "fields", {}).values()
        )

    def map_parsers(self):
        """Bodies without files are JSON; bodies with files are multipart/form-data
        (DRF also parses form encodings of JSON bodies, as a leniency left out here:
        a form cannot say null)."""
        media_types = super().map_parsers()
        if "multipart/form-data" in media_types and self._request_takes_files():
            return ["multipart/form-data"]  # a batch job's submit also takes `{"draft": true}`
        return ["application/json"] if "application/json" in media_types else media_types

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        multipart = (body or {}).get("content", {}).get("multipart/form-data")
        if multipart is None:
            return body
        serializer = force_instance(self.get_request_serializer())
        if getattr(serializer, "exactly_one_of", None):
            body["required"] = True  # one of the fields must come: so must a body
        if hasattr(serializer, "fields"):
            # Not for lists of files: Schemathesis (4.32) would send one bare part
            # for a list with an encoding; their descriptions say what they hold.
            encoding = {
                name: {"contentType": UPLOAD_CONTENT_TYPES[name], "headers": FILE_PART_HEADERS}
                for name, field in serializer.fields.items()
                if name in UPLOAD_CONTENT_TYPES and not isinstance(field, serializers.ListField)
            }
            if encoding:
                multipart["encoding"] = encoding
        return body

    def _map_basic_serializer(self, serializer, direction):
        """A request serializer's `exactly_one_of` (groups of field names): the body
        sends the fields of exactly one group (JSON Schema `oneOf` of `required`).
        Inside `allOf`: openapi-python-client reads an object's own `oneOf` as a
        union of bodies, which it cannot send as multipart, and drops the body."""
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        if groups := getattr(serializer, "exactly_one_of", None):
            one_of = {"oneOf": [{"required": list(group)} for group in groups]}
            schema.setdefault("allOf", []).append(one_of)
        # `field_requires`: a field that, when sent, needs others (`images` a `label`).
        for field, needs in getattr(serializer, "field_requires", {}).items():
            implies = {"anyOf": [{"not": {"required": [field]}}, {"required": list(needs)}]}
            schema.setdefault("allOf", []).append(implies)
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in self._shared_errors().items():
            responses.setdefault(code, {"description": description})
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": error}}
            if code in {"429", "503"}:
                header = {**RETRY_AFTER, "required": code == "429"}
                response.setdefault("headers", {}).setdefault("Retry-After", header)
            if code == "401":
                response.setdefault("headers", {})["WWW-Authenticate"] = {
                    "description": "How to authenticate: `Token`.",
                    "schema": {"type": "string"},
                }
        return dict(sorted(responses.items()))

    def _shared_errors(self) -> dict[str, str]:
        """The statuses the shared machinery answers this operation with, and why."""
        view, method = self.view, self.method.upper()
        errors = {
            "400": "invalid input: the request body, or a query parameter (a repeated one "
            "included); `errors` names each problem",
            "413": f"the request body is over API_MAX_REQUEST_BYTES "
            f"({settings.API_MAX_REQUEST_BYTES} bytes)",
            "503": "a backing service (the database, Redis) is unavailable; retry",
        }
        authenticators = view.get_authenticators()
        if authenticators:
            errors["401"] = "the credentials sent are not valid, or this needs a signed-in caller"
        refusable = not all(
            isinstance(permission, permissions.AllowAny) for permission in view.get_permissions()
        )
        csrf = method in UNSAFE_METHODS and any(
            isinstance(authenticator, SessionAuthentication) for authenticator in authenticators
        )
        if refusable or csrf:
            errors["403"] = "the caller may not do this (or a session's CSRF token is missing)"
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            errors["404"] = "no such object, or no such page"
        if method in UNSAFE_METHODS:
            errors["415"] = "the body's Content-Type is not one this operation takes"
            if "multipart/form-data" in self.map_parsers():
                errors["413"] += (
                    ", or its images together over API_MAX_REQUEST_PIXELS "
                    f"({settings.API_MAX_REQUEST_PIXELS} pixels)"
                )
        if view.get_throttles():
            errors["429"] = "rate-limited (API_RATE_*); Retry-After says for how long"
        return errors
