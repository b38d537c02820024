from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from predictions.views import batch_results_csv, batch_results_json, index

handler404 = "classifier_site.api.not_found"
handler500 = "classifier_site.api.server_error"

urlpatterns = [
    path("", index, name="index"),
    path("jobs/<int:job_id>/results.csv", batch_results_csv, name="batch-results-csv"),
    path("jobs/<int:job_id>/results.json", batch_results_json, name="batch-results-json"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("classifier_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/schema/ui/", SpectacularSwaggerView.as_view(url_name="schema"), name="schema-ui"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
