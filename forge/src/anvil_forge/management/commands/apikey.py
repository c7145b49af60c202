"""``anvil apikey create|list|revoke``: API keys for a user, from the operator's shell.

    anvil apikey create EMAIL --name NAME [--scopes read,write] [--expires-in DAYS]   prints the key, once
    anvil apikey list EMAIL [--all]
    anvil apikey revoke EMAIL KEY_ID
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from anvil_forge.accounts import queries, services
from anvil_forge.core.errors import AnvilError


def _user(email: str):
    user = queries.user_by_email(email)
    if user is None:
        raise CommandError(f"no user with e-mail {email}")
    if not user.is_active:
        raise CommandError(f"{user.email} is deactivated")
    return user


def _fail(exc: AnvilError) -> CommandError:
    details = "; ".join(d["message"] for d in exc.details if d.get("message") != exc.message)
    return CommandError(f"{exc.message}{': ' + details if details else ''}")


class Command(BaseCommand):
    help = "Create, list or revoke a user's API keys (create prints the key once)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = sub.add_parser("create", help="create a key and print it (shown once)")
        create.add_argument("email")
        create.add_argument("--name", required=True, help="what the key is for, e.g. 'CI deploys'")
        create.add_argument("--scopes", default="read", help="comma-separated: read, write (default: read)")
        create.add_argument("--expires-in", type=int, metavar="DAYS", help="the key stops working after DAYS days "
                                                                           "(default: it does not expire)")
        listing = sub.add_parser("list", help="the user's keys (never their secrets)")
        listing.add_argument("email")
        listing.add_argument("--all", action="store_true", help="include revoked keys")
        revoke = sub.add_parser("revoke", help="revoke a key by id")
        revoke.add_argument("email")
        revoke.add_argument("key_id")

    def handle(self, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except AnvilError as exc:
            raise _fail(exc) from None

    def _create(self, email, name, scopes, expires_in=None, **options):
        if expires_in is not None and expires_in < 1:
            raise CommandError("--expires-in must be at least 1 (days)")
        expires_at = timezone.now() + timedelta(days=expires_in) if expires_in else None
        key, secret = services.create_api_key(_user(email), name, scopes, expires_at)
        self.stdout.write(secret)
        until = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
        self.stderr.write(f"Created API key '{key.name}' ({', '.join(key.scopes)}) for {key.user.email}, "
                          f"id {key.pk}{until}. The key above is shown only this once.")

    def _list(self, email, all, **options):
        for key in queries.api_keys_for(_user(email), include_revoked=all):
            used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
            state = (f"  revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at
                     else f"  expired {key.expires_at:%Y-%m-%d %H:%M}" if key.expired
                     else f"  expires {key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else "")
            self.stdout.write(f"{key.pk}  {key.prefix}…  {key.name}  [{','.join(key.scopes)}]  {used}{state}")

    def _revoke(self, email, key_id, **options):
        key = services.revoke_api_key(_user(email), key_id)
        self.stdout.write(f"Revoked API key '{key.name}' ({key.prefix}…).")
