from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from training.models import ModelVersion, TrainingImage


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
