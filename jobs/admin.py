"""The Job admin: workers write jobs; the admin reads them and may ask one to stop."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from jobs import lifecycle
from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are written by workers only: the admin reads them, and may ask one to stop."""

    list_display = [
        "id",
        "kind",
        "status",
        "priority",
        "progress_bar",
        "epochs",
        "items",
        "model_version",
        "submitted_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status", "priority"]
    search_fields = ["id", "message", "error", "celery_task_id"]
    list_select_related = ["model_version", "submitted_by"]
    actions = ["cancel"]
    readonly_fields = ["progress_bar", "traceback_text"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # job rows are the history of what ran

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("jobs.change_job")

    def get_fields(self, request, obj=None):
        hidden = {"traceback", "access_key_hash"}
        fields = [field.name for field in Job._meta.fields if field.name not in hidden]
        return ["progress_bar", *fields, "traceback_text"]

    @admin.display(description="traceback")
    def traceback_text(self, job: Job) -> str:
        """Where a failed job's traceback is shown: never in the API."""
        if not job.traceback:
            return "-"
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', job.traceback)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return format_html(
            '<progress max="1" value="{}" style="width: 8em"></progress> {}%',
            f"{job.progress:.3f}",
            round(job.progress * 100),
        )

    @admin.display(description="epoch")
    def epochs(self, job: Job) -> str:
        return f"{job.epoch}/{job.total_epochs}" if job.total_epochs else "-"

    @admin.display(description="items")
    def items(self, job: Job) -> str:
        return f"{job.processed}/{job.total}" if job.total else "-"

    @admin.action(description="Cancel the selected jobs", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        running = [job for job in queryset if not job.is_finished]
        for job in running:
            lifecycle.request_cancel(job)
        self.message_user(
            request,
            f"Asked {len(running)} job(s) to stop; finished jobs are left as they are.",
            messages.SUCCESS,
        )
