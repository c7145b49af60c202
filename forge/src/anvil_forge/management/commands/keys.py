"""``anvil keys list|rotate|retire``: the FORGE's bundle-signing keys (docs/deployment.md#rotating-the-signing-key).

    anvil keys list              every key, oldest first: id, state (current, previous, retired), created
    anvil keys rotate            a new key, endorsed by the current one, signs from now on
    anvil keys retire KEY_ID     delete a previous key's private key (it signs nothing any more)
"""

from django.core.management.base import BaseCommand, CommandError

from anvil_forge.distribution import queries, services


class Command(BaseCommand):
    help = "List, rotate or retire the FORGE's bundle-signing keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{list,rotate,retire}")
        sub.add_parser("list", help="every signing key and its state")
        sub.add_parser("rotate", help="make a new signing key, endorsed by the current one")
        retire = sub.add_parser("retire", help="delete a previous key's private key")
        retire.add_argument("key_id")

    def handle(self, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except services.KeyStateError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, **options):
        for key in queries.signing_keys():
            retired = f"  retired {key['retired_at']}" if key.get("retired_at") else ""
            self.stdout.write(f"{key['key_id']}  {key['state']:<8}  created {key['created_at']}{retired}  "
                              f"{key['public_key']}")

    def _rotate(self, **options):
        old, new = services.rotate_signing_key()
        self.stdout.write(f"Rotated the signing key: {new['key_id']} is current, endorsed by {old['key_id']} "
                          f"(now previous).")
        self.stderr.write("Clients pinned to the old key follow the endorsement when they take their next bundle "
                          "(the next publish). The endorsement stays served after "
                          f"`anvil keys retire {old['key_id']}`, which deletes the old private key.")

    def _retire(self, key_id, **options):
        services.retire_signing_key(key_id)
        self.stdout.write(f"Retired signing key {key_id}: its private key is deleted; its public key and "
                          f"endorsement stay served.")
