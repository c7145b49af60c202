"""Site-wide views that belong to no domain: the landing page and the health check."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from anvil_forge import __version__


def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "version": __version__})


def home(request):
    return render(request, "anvil_forge/home.html", {"version": __version__})
