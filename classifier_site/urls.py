from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard.views import media_file

handler400 = "classifier_site.api.bad_request"
handler404 = "classifier_site.api.not_found"
handler500 = "classifier_site.api.server_error"

urlpatterns = [
    path("", include("dashboard.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("classifier_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/schema/ui/", SpectacularSwaggerView.as_view(url_name="schema"), name="schema-ui"),
    # Every request is checked (a signed, unexpired URL) before the file is sent.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media_file, name="media"),
]
