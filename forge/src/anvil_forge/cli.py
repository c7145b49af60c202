"""The ``anvil`` command: the FORGE's own commands plus Django's management commands.

    anvil serve [--host H] [--port P] [--workers N] [--with-worker]
    anvil worker
    anvil migrate
    anvil createuser EMAIL [--password PW] [--no-input]
    anvil createadmin EMAIL [--password PW] [--no-input]
    anvil demo
    anvil render ADDRESS --as EMAIL -v name=value …
    anvil apikey create EMAIL --name NAME --scopes read,write   (prints the key once; also list, revoke)
    anvil export PROJECT [-o FILE] · anvil import FILE --organisation ORG
    anvil keys list | rotate | retire KEY_ID   (the bundle-signing keys)
    anvil publish ORG/PROJECT SET [--channel C] [--percentage N] --as EMAIL   (docs/distribution.md)
    anvil promote ORG/PROJECT --from SOURCE --to TARGET --as EMAIL
    anvil rollout ORG/PROJECT [--channel C] (--percentage N | --everyone | --status) --as EMAIL
    anvil rollback ORG/PROJECT [--channel C] --as EMAIL
    anvil channels ORG/PROJECT list | create NAME | export | import FILE
    anvil requests ORG/PROJECT list · anvil requests approve | reject | cancel ID --as EMAIL
    anvil --version
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_forge.settings")
    from django.core.management import execute_from_command_line

    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["version"]):
        import django

        from anvil_forge import __version__

        print(f"anvil-forge {__version__} (Django {django.get_version()})")
        return
    execute_from_command_line(["anvil", *(args or ["help"])])


if __name__ == "__main__":
    main()
