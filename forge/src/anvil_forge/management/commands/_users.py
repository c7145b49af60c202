"""Shared by ``createuser`` and ``createadmin``."""

import getpass
import secrets

from django.core.management.base import BaseCommand, CommandError

from anvil_forge.orgs.services import create_user
from anvil_forge.core.errors import AnvilError


class UserCommand(BaseCommand):
    site_admin = False

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="at least 12 characters; asked for when omitted")
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument("--no-input", action="store_true",
                            help="never prompt; without --password a random password is generated and printed")

    def handle(self, email, password, name, no_input, **options):
        generated = False
        if password is None:
            if no_input:
                password, generated = secrets.token_urlsafe(12), True
            else:
                password = getpass.getpass("Password (12+ characters): ")
                if password != getpass.getpass("Password again: "):
                    raise CommandError("the passwords do not match")
        try:
            # The operator vouches for the address (nothing is e-mailed from the command line).
            user = create_user(email, password, display_name=name, site_admin=self.site_admin, email_verified=True)
        except AnvilError as exc:
            details = "; ".join(d["message"] for d in exc.details)
            raise CommandError(f"{exc.message}{': ' + details if details else ''}") from None
        kind = "site admin" if self.site_admin else "user"
        self.stdout.write(f"Created {kind} {user.email} with personal organisation "
                          f"'{user.personal_organisation.name}'.")
        if generated:
            self.stdout.write(f"Password: {password}")
