"""Sign up, sign in (password or e-mailed link), sign out, password reset, account, invitations."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_POST

from anvil_forge.accounts import queries as account_queries
from anvil_forge.accounts import services as account_services
from anvil_forge.audit import queries as audit_queries
from anvil_forge.core.errors import AnvilError, NotFound
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs import services as org_services

from ..current import remember
from ..forms import EmailForm, LoginForm, PasswordForm, ProfileForm, SignupForm
from ..links import url_for
from .base import AuthenticatedHttpRequest, attempt, client_address, crumbs, page, safe_next, show_error, web_view

BACKEND = "django.contrib.auth.backends.ModelBackend"
EXPIRY_DAYS = ("30", "90", "365")  # the account page's choices for a new API key; "" is never


def _signed_in(request: HttpRequest, user, method: str, message: str | None = None) -> HttpResponse:
    login(request, user, backend=BACKEND)
    account_services.record_sign_in(user, method, client_address(request))
    if message:
        messages.success(request, message)
    return redirect(safe_next(request, reverse("web:dashboard")))


def _invitation_token(next_url: str) -> str | None:
    """The invitation a sign-up comes from: its page sends people here with ``next=/invitations/<token>``."""
    prefix = reverse("web:invitation", args=["x"])[:-1]
    if not next_url.startswith(prefix):
        return None
    return next_url[len(prefix):] or None


def _signup_offered(next_url: str) -> bool:
    return account_services.signup_mode() == "open" or _invitation_token(next_url) is not None


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    next_url = safe_next(request, "")
    token = _invitation_token(next_url)
    closed = not _signup_offered(next_url)
    form = SignupForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    throttled = False
    if request.method == "POST" and not closed and form.is_valid():
        data = form.cleaned_data
        try:
            user = org_services.sign_up(data["email"], data["password"] or None, display_name=data["display_name"],
                                        invitation_token=token, client_address=client_address(request))
        except account_services.Throttled as exc:
            form.add_error(None, exc.message)
            throttled = True
        except AnvilError as exc:
            show_error(request, exc, form)
        else:
            sent = "" if token else f" We sent a link to {user.email}: open it to confirm the address."
            return _signed_in(request, user, "sign-up",
                              f"Welcome to Anvil, {user.name}. Your personal organisation is ready.{sent}")
    status = 403 if closed else 429 if throttled else 200
    return page(request, "web/accounts/signup.html", {"form": form, "next": next_url, "closed": closed},
                crumbs=crumbs(None, None, None, None, "Sign up"), status=status)


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(safe_next(request, reverse("web:dashboard")))
    form = LoginForm(request.POST or None)
    throttled = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = account_services.sign_in(data["email"], data["password"], client_address=client_address(request),
                                            request=request)
        except account_services.Throttled as exc:
            form.add_error(None, exc.message)
            throttled = True
        except AnvilError as exc:
            show_error(request, exc, form)
        else:
            return _signed_in(request, user, "password")
    status = 429 if throttled else 200
    next_url = safe_next(request, "")
    return page(request, "web/accounts/login.html", {"form": form, "next": next_url,
                                                     "signup_offered": _signup_offered(next_url)},
                crumbs=crumbs(None, None, None, None, "Sign in"), status=status)


def magic_request(request: HttpRequest) -> HttpResponse:
    """Ask for a sign-in link; the answer is the same whether or not the address has an account."""
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            minutes = account_services.send_sign_in_link(email, client_address(request))
        except account_services.Throttled as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"If {email} has an account, a sign-in link is on its way. "
                                      f"It works once, for {minutes} minutes.")
            return redirect("web:login")
    return page(request, "web/accounts/magic_request.html", {"form": form},
                crumbs=crumbs(None, None, None, None, "Sign in with an e-mailed link"))


def magic_consume(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """GET shows a button (so a mail scanner following links does not use them up); POST signs in."""
    user = account_queries.user_for_sign_in_link(uidb64, token)
    if user is None:
        return page(request, "web/accounts/magic_invalid.html",
                    crumbs=crumbs(None, None, None, None, "Sign-in link"), status=400)
    if request.method == "POST":
        if request.user.is_authenticated and request.user.pk != user.pk:
            logout(request)
        account_services.use_sign_in_link(user)  # the link reached this mailbox: that confirms it
        return _signed_in(request, user, "sign-in link", f"Signed in as {user.email}.")
    return page(request, "web/accounts/magic_confirm.html", {"link_user": user},
                crumbs=crumbs(None, None, None, None, "Sign-in link"))


def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link sent at sign-up. Opening it is the proof, so GET verifies (a mail scanner that follows
    it has the mailbox too); it does not sign anyone in."""
    user = account_services.confirm_email(uidb64, token)
    if user is None:
        return page(request, "web/accounts/verify_invalid.html",
                    crumbs=crumbs(None, None, None, None, "Confirm e-mail address"), status=400)
    messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect("web:account" if request.user.is_authenticated else "web:login")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("web:login")


@web_view
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    profile = ProfileForm(request.POST if request.POST.get("form") == "profile" else None,
                          initial={"display_name": user.display_name})
    api_keys = list(account_queries.api_keys_for(user))
    password = PasswordForm(request.POST if request.POST.get("form") == "password" else None, user=user,
                            api_keys=len(api_keys))  # every key not revoked, as set_password revokes them
    if request.method == "POST":
        if request.POST.get("form") == "profile" and profile.is_valid():
            ok, _ = attempt(request, lambda: account_services.update_profile(
                user, display_name=profile.cleaned_data["display_name"]), profile)
            if ok:
                messages.success(request, "Profile saved.")
                return redirect("web:account")
        elif request.POST.get("form") == "password" and password.is_valid():
            ok, revoked = attempt(request, lambda: account_services.set_password(
                user, user, password.cleaned_data["password"],
                revoke_api_keys=password.cleaned_data.get("revoke_api_keys", False)), password)
            if ok:
                login(request, user, backend=BACKEND)  # the password change rotated the session hash
                messages.success(request, "Password changed." + (f" {revoked} API key(s) revoked." if revoked else ""))
                return redirect("web:account")
        elif request.POST.get("form") == "api_key":
            scopes = [scope for scope in ("read", "write") if request.POST.get(f"scope_{scope}")]
            days = request.POST.get("expires_in", "")
            expires_at = timezone.now() + timedelta(days=int(days)) if days in EXPIRY_DAYS else None
            ok, made = attempt(request, lambda: account_services.create_api_key(
                user, request.POST.get("name", ""), scopes, expires_at))
            if ok:
                request.session["anvil_new_api_key"] = made[1]
                messages.success(request, f"API key {made[0].name} created. Copy it now: it is not shown again.")
                return redirect(reverse("web:account") + "#keys-h")
        elif request.POST.get("form") == "verify_email":
            try:
                sent = account_services.send_confirmation(user, client_address(request))
            except account_services.Throttled as exc:
                messages.error(request, exc.message)
            else:
                if sent:
                    messages.success(request, f"A link to confirm {user.email} is on its way.")
            return redirect("web:account")
        elif request.POST.get("form") == "revoke_key":
            ok, key = attempt(request, lambda: account_services.revoke_api_key(user, request.POST.get("key_id")))
            if ok:
                messages.success(request, f"API key {key.name} revoked.")
                return redirect(reverse("web:account") + "#keys-h")
    return page(request, "web/accounts/account.html", {
        "profile": profile, "password_form": password,
        "api_keys": api_keys,
        "sign_ins": list(audit_queries.sign_ins_for(user)),
        "new_api_key": request.session.pop("anvil_new_api_key", None),
    }, crumbs=crumbs(None, None, None, None, "Account"))


# --- password reset: Django's views, our templates, links on ANVIL_BASE_URL ----------------

class ResetPasswordForm(SetPasswordForm):
    """Django's form, saving through the service so the change is validated and audited."""

    def save(self, commit=True):
        account_services.reset_password(self.user, self.cleaned_data["new_password1"])  # also confirms the mailbox
        return self.user


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "web/accounts/password_reset.html"
    email_template_name = "web/accounts/password_reset_email.txt"
    subject_template_name = "web/accounts/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_done")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["crumbs"] = crumbs(None, None, None, None, "Reset password")
        return context

    def form_valid(self, form):
        try:
            account_services.take_mail_allowance(form.cleaned_data["email"], client_address(self.request))
        except account_services.Throttled as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        self.extra_email_context = {"base_url": settings.ANVIL_BASE_URL}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "crumbs": crumbs(None, None, None, None, "Reset password")}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/accounts/password_reset_confirm.html"
    form_class = ResetPasswordForm
    success_url = reverse_lazy("web:password_reset_complete")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "crumbs": crumbs(None, None, None, None, "Choose a new password")}


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/accounts/password_reset_complete.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "crumbs": crumbs(None, None, None, None, "Password changed")}


# --- invitations --------------------------------------------------------------------------

def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Anyone with the link sees whom it invites; a signed-in user with that address accepts it."""
    try:
        invite = org_queries.invitation_for_token(token)
    except NotFound as exc:
        return page(request, "web/accounts/invitation_invalid.html", {"message": exc.message},
                    crumbs=crumbs(None, None, None, None, "Invitation"), status=404)
    if request.method == "POST" and request.user.is_authenticated:
        ok, membership = attempt(request, lambda: org_services.accept_invitation(request.user, token))
        if ok:
            messages.success(request, f"You joined {membership.organisation.name} as {membership.role}.")
            remember(request, membership.organisation)
            return redirect(url_for(membership.organisation))
    has_account = org_queries.invitee_has_account(invite)
    return page(request, "web/accounts/invitation.html", {
        "invite": invite, "token": token, "has_account": has_account,
        "email_matches": request.user.is_authenticated and request.user.email.lower() == invite.email.lower(),
    }, crumbs=crumbs(None, None, None, None, "Invitation"))
