import json

from django.core.management.base import BaseCommand, CommandError

from anvil_client import cli as client_cli
from anvil_client.errors import AnvilClientError
from anvil_forge.accounts import queries as account_queries
from anvil_forge.core.errors import AnvilError
from anvil_forge.orgs import queries as org_queries
from anvil_forge.prompts import queries as prompt_queries


def parse_variables(pairs: list[str]) -> dict:
    """``name=value`` (a string, coerced by the parameter's type), ``name:=JSON`` or ``name:=@FILE`` (JSON in a
    file, e.g. a chat prompt's history) — the same syntax as ``anvil-client render``, parsed by the same
    function."""
    try:
        return client_cli.parse_variables(pairs)
    except AnvilClientError as exc:
        raise CommandError(exc.message) from None


class Command(BaseCommand):
    help = ("Render a prompt by address, e.g. acme/support/emails@stable/welcome -v name=Ada: a text prompt's "
            "text, or a chat prompt's messages each under its role, then its model configuration")

    def add_arguments(self, parser):
        # `-v` means a variable here, as documented; Django's verbosity keeps `--verbosity`.
        verbosity = parser._option_string_actions.pop("-v")
        verbosity.option_strings.remove("-v")
        parser.add_argument("address", help="[org/]project/prompt_set[@version]/prompt")
        parser.add_argument("-v", "--var", dest="variables", action="append", default=[], metavar="NAME=VALUE",
                            help="a variable (repeat); NAME:=JSON for a JSON value, NAME:=@FILE for JSON in a "
                                 "file (a chat prompt's history: -v history:=@history.json)")
        parser.add_argument("--as", dest="as_user", metavar="EMAIL",
                            help="resolve as this user (their organisations only); default: the operator sees all")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help='print the whole result as JSON: {"kind", "rendered", "messages", "config"}')

    def handle(self, address, variables, as_user, as_json=False, **options):
        values = parse_variables(variables)
        user, organisations = None, None
        if as_user:
            user = account_queries.user_by_email(as_user)
            if user is None:
                raise CommandError(f"no user with e-mail {as_user}")
        else:
            organisations = org_queries.all_organisations()
        try:
            result, _ = prompt_queries.render_address(user, address, values, organisations=organisations)
        except AnvilError as exc:
            raise CommandError(exc.message) from None
        if as_json:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
            return
        text = prompt_queries.as_text(result)
        if result["messages"] is not None and result["config"]:
            # A chat prompt's model configuration after its messages; a text prompt's text stays the whole
            # output, as scripts expect (--json has its configuration).
            text += "\n\n[config]\n" + json.dumps(result["config"], indent=2, ensure_ascii=False)
        self.stdout.write(text, ending="" if text.endswith("\n") else "\n")
