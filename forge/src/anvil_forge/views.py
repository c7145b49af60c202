"""Site-wide views that belong to no domain: the health check. (The web UI is in ``anvil_forge.web``.)"""

from django.db import connection
from django.http import JsonResponse

from anvil_forge import __version__


def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "version": __version__})
