from django.contrib import admin
from django.urls import include, path

from . import views
from .api import api

urlpatterns = [
    path("healthz", views.health, name="health"),
    # Django's admin signs in through the FORGE's own sign-in page, which is throttled (its own is not).
    path("admin/login/", views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("", include("anvil_forge.web.urls")),  # the web UI; "/" is the dashboard
    path("api/v1/", api.urls),
]
