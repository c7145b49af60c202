"""Sign a user out after ``ANVIL_SESSION_IDLE_MINUTES`` without a request, and say so."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

SESSION_KEY = "anvil_last_seen"
TOUCH_EVERY = 60  # seconds: the session is written at most once a minute for this


class IdleSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(SESSION_KEY)
            idle = settings.ANVIL_SESSION_IDLE_MINUTES * 60
            if last is not None and now - int(last) > idle:
                return self._expired(request, idle)
            if last is None or now - int(last) >= TOUCH_EVERY:
                request.session[SESSION_KEY] = now
        return self.get_response(request)

    def _expired(self, request, idle: int):
        logout(request)
        messages.info(request, f"You were signed out after {idle // 60} minutes without activity. "
                               "Sign in again to carry on.")
        url = reverse("web:login")
        if request.method == "GET" and not request.headers.get("HX-Request"):
            url += "?" + urlencode({"next": request.get_full_path()})
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=200)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)
