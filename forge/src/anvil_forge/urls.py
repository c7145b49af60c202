from django.contrib import admin
from django.urls import include, path

from . import views
from .api import api

urlpatterns = [
    path("healthz", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("anvil_forge.web.urls")),  # the web UI; "/" is the dashboard
    path("api/v1/", api.urls),
]
