from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from predictions.views import batch_results_csv, batch_results_json, index

urlpatterns = [
    path("", index, name="index"),
    path("jobs/<int:job_id>/results.csv", batch_results_csv, name="batch-results-csv"),
    path("jobs/<int:job_id>/results.json", batch_results_json, name="batch-results-json"),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
