from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from predictions import batch
from training.models import Job, ModelVersion, TrainingImage


def index(request: HttpRequest) -> HttpResponse:
    """Service overview: what data is stored and which model serves."""
    counts = {
        split: TrainingImage.objects.filter(split=split).count()
        for split in TrainingImage.Split.values
    }
    return render(
        request,
        "index.html",
        {
            "production": ModelVersion.production(),
            "version_count": ModelVersion.objects.count(),
            "train_count": counts["train"],
            "test_count": counts["test"],
        },
    )


def _batch_job(job_id: int) -> Job:
    return get_object_or_404(Job, pk=job_id, kind=Job.Kind.BATCH_INFERENCE)


def batch_results_csv(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _batch_job(job_id)
    response = HttpResponse(batch.results_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-job-{job.pk}.csv"'
    return response


def batch_results_json(request: HttpRequest, job_id: int) -> JsonResponse:
    job = _batch_job(job_id)
    return JsonResponse(
        {"job": job.pk, "status": job.status, "results": batch.results(job)},
        json_dumps_params={"indent": 1},
    )
