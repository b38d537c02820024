"""The one Job viewset that batch jobs (predictions) and training jobs (training)
specialise: list, retrieve, and `POST .../{id}/cancel/`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from classifier_site.api import error, refuse_any_field
from jobs import lifecycle
from jobs.models import Job
from jobs.serializers import JobSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Subclasses narrow `queryset` to their kinds of job. Cancelling is for the
    submitter, or a user allowed to change jobs (`may_cancel`)."""

    queryset = Job.objects.select_related("model_version", "submitted_by")
    serializer_class = JobSerializer
    cancel_permission_classes: list[type[permissions.BasePermission]] = [
        permissions.IsAuthenticated
    ]

    @extend_schema(request=None, responses={200: JobSerializer, 403: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        refuse_any_field(request)
        job = self.get_object()
        if not self.may_cancel(request, job):
            return error(403, "only the submitter or a user allowed to change jobs may cancel it")
        body = JobSerializer(lifecycle.request_cancel(job), context={"request": request}).data
        return Response(body)

    def may_cancel(self, request: Request, job: Job) -> bool:
        user = request.user
        return user.is_authenticated and (
            job.submitted_by_id == user.pk or user.has_perm("jobs.change_job")
        )

    def get_permissions(self):
        if self.action == "cancel":
            return [permission() for permission in self.cancel_permission_classes]
        return super().get_permissions()

    def get_throttles(self):
        if self.action == "retrieve":
            return []  # progress polling must never be limited into failure
        return super().get_throttles()
