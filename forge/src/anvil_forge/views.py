"""Site-wide views that belong to no domain: the health check, the admin's sign-in. (The web UI is in
``anvil_forge.web``.)"""

from django.db import connection
from django.http import JsonResponse

from anvil_forge import __version__


def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "version": __version__})


def admin_login(request):
    """Django's admin sign-in is the FORGE's own (throttled, with magic links), then back to the admin."""
    from django.shortcuts import redirect
    from django.urls import reverse
    from django.utils.http import url_has_allowed_host_and_scheme, urlencode

    target = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("admin:index")
    return redirect(f"{reverse('web:login')}?{urlencode({'next': target})}")
