"""anvil-client: connect an app to a FORGE, sync, switch mode, inspect and render prompts; and keep a
project's prompts as files: pull, diff, push, lint, test (docs/prompts-as-code.md).

Settings come from flags, then ANVIL_* environment variables, then the file
connect writes ($ANVIL_CONFIG or .anvil/client.json); the file commands read anvil.yaml.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from . import cli_files, config
from .client import Client
from ._remote import token_info
from .errors import AnvilClientError, SyncError


def _client(args: argparse.Namespace, **extra: Any) -> Client:
    return Client(forge_url=args.forge_url, project=args.project, access_token=args.token, cache_dir=args.cache_dir,
                  public_key=args.public_key, background=False, **extra)


def _ask(label: str, current: str | None, secret: bool = False) -> str:
    import getpass

    if current:
        return current
    if not sys.stdin.isatty():
        raise AnvilClientError(f"{label} is needed: pass it as a flag (no terminal to ask on)")
    value = (getpass.getpass if secret else input)(f"{label}: ").strip()
    if not value:
        raise AnvilClientError(f"{label} is needed")
    return value


def cmd_connect(args: argparse.Namespace) -> int:
    labels = config.parse_labels(",".join(args.labels), "--label") if args.labels else None
    settings = config.resolve(forge_url=args.forge_url, project=args.project, access_token=args.token,
                              mode=args.mode, cache_dir=args.cache_dir, public_key=args.public_key,
                              channel=args.channel, labels=labels)
    settings.forge_url = _ask("FORGE URL", settings.forge_url).rstrip("/")
    settings.access_token = _ask("Access token", settings.access_token, secret=True)
    settings.project = _project_of_token(settings.forge_url, settings.access_token, settings.project)
    settings.mode = settings.mode or "accepting"
    settings.cache_dir = settings.cache_dir or f"{config.DEFAULT_DIR}/cache"
    client = Client(forge_url=settings.forge_url, project=settings.project, access_token=settings.access_token,
                    mode=settings.mode, cache_dir=settings.cache_dir, public_key=settings.public_key,
                    background=False, channel=settings.channel, labels=settings.labels,
                    instance_id=settings.instance_id)
    if not settings.public_key:
        settings.public_key = client.fetch_public_key()
        print(f"Pinned the FORGE's public key {settings.public_key[:24]}…")
        client._store.explicit_key = settings.public_key  # pinned for this run's sync
    try:
        result = client.sync()
    except SyncError as exc:
        if "404" in exc.message:
            raise AnvilClientError(f"the FORGE at {settings.forge_url} has no project {settings.project} for this "
                                   f"access token: the project page shows its id and a ready connect command "
                                   f"(or pass --project ORG/PROJECT)") from None
        raise
    path = config.write_file(settings)
    channel = f", channel {client.status()['channel']}" if client.status()["channel"] else ""
    print(f"Connected to {settings.forge_url}, project {settings.project}{channel} ({settings.mode}).")
    print(f"{result.detail}; {len(client.prompt_ids())} prompts held. Configuration written to {path}.")
    return 0


def _project_of_token(forge_url: str, token: str, given: str | None) -> str:
    """The project id to connect to: the access token's own project (a FORGE says which), checked against
    ``given`` when one is given — an id, or ``org/project``."""
    info = token_info(forge_url, token)
    if info is None:  # a FORGE before channels does not say: an id is needed
        if not given or "/" in given:
            raise AnvilClientError("this FORGE does not tell an access token's project: pass the project id "
                                   "(--project; the project page shows it)")
        return given
    ref = f"{info['organisation']}/{info['project']}"
    if given and given not in (info["project_id"], ref):
        raise AnvilClientError(f"this access token is for project {ref} ({info['project_id']}), not {given}: "
                               f"use a token of {given}, or leave --project out")
    return str(info["project_id"])


def cmd_sync(args: argparse.Namespace) -> int:
    client = _client(args)
    before = client.sequence
    print(f"Syncing with {client.forge_url} (holding sequence {before if before is not None else '–'}) …",
          end="", flush=True)
    result = client.sync()
    print(" done.")
    print(f"{result.detail}; {len(client.prompt_ids())} prompts, versions: "
          + (", ".join(f"{s}@{v}" for s, v in sorted(client.status()["versions"].items())) or "none"))
    return 0


def cmd_mode(args: argparse.Namespace) -> int:
    client = _client(args)
    client.set_mode(args.new_mode)
    print(f"Mode is now {client.mode.upper()}.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _client(args).status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    width = max(len(k) for k in status)
    for key, value in status.items():
        if key == "tests":  # each held set version's summary: support@1.2.0 5/5 passed
            value = ", ".join(f"{slug}@{status['versions'].get(slug, '?')} {format_tests(counts)}"
                              for slug, counts in value.items()) or "–"
        elif key == "labels":
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "–"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}@{v}" for k, v in value.items()) or "–"
        elif isinstance(value, list):
            value = ", ".join(value) or "–"
        print(f"{key:<{width}}  {value if value is not None else '–'}")
    return 0


def format_tests(counts: dict[str, int]) -> str:
    """A test summary for a terminal: ``5/5 passed``, ``4/5 passed (1 failed)``."""
    text = f"{counts['passed']}/{counts['total']} passed"
    return text + (f" ({counts['failed']} failed)" if counts["failed"] else "")


def cmd_prompts(args: argparse.Namespace) -> int:
    client = _client(args)
    on_fallbacks = set(client.status()["on_fallbacks"])
    for prompt_id in client.prompt_ids():
        params = ", ".join(p["name"] for p in client.parameters(prompt_id)) if prompt_id not in on_fallbacks \
            else "(fallback)"
        print(f"{prompt_id}  {params}")
    return 0


def parse_variables(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` (a string, coerced by the parameter's type), ``name:=JSON`` (a JSON value) or
    ``name:=@FILE`` (the JSON value in a file, e.g. a chat prompt's history: a list of messages)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.rstrip(":"):
            raise AnvilClientError(f"-v {pair}: expected name=value, name:=JSON or name:=@FILE")
        if name.endswith(":"):
            name = name[:-1]
            what, where = "the value after ':='", pair
            if value.startswith("@"):
                what, where, value = f"the file {value[1:]!r}", name, _read_file(name, value[1:])
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise AnvilClientError(f"-v {where}: {what} is not JSON ({exc})") from None
            except RecursionError:
                raise AnvilClientError(f"-v {name}: {what} is nested too deeply") from None
        values[name] = value
    return values


def _read_file(name: str, path: str) -> str:
    if not path:
        raise AnvilClientError(f"-v {name}:=@FILE: name the file after '@'")
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise AnvilClientError(f"-v {name}: cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AnvilClientError(f"-v {name}: {path!r} is not UTF-8 text") from None


def format_messages(messages: list[dict[str, Any]]) -> str:
    """A conversation for a terminal: each message under its role (``[system]``), a blank line between."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def cmd_render(args: argparse.Namespace) -> int:
    prompt = _client(args).get(args.prompt_id)
    rendered = prompt.render(**parse_variables(args.variables))
    if args.json:
        key = "rendered" if isinstance(rendered, str) else "messages"
        print(json.dumps({"kind": prompt.kind, key: rendered, "config": prompt.config}, indent=2,
                         ensure_ascii=False))
        return 0
    if isinstance(rendered, str):
        text = rendered
    else:
        text = format_messages(rendered)
        if prompt.config:
            text += "\n\n[config]\n" + json.dumps(prompt.config, indent=2, ensure_ascii=False)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_serve_receiver(args: argparse.Namespace) -> int:
    from .receiver import PATH, serve

    url = args.public_url or f"http://{args.host}:{args.port}{PATH}"
    client = Client(forge_url=args.forge_url, project=args.project, access_token=args.token,
                    cache_dir=args.cache_dir, public_key=args.public_key, receiver_url=url)
    print(f"Receiving pushes at {url} ({client.mode.upper()}); serving {len(client.prompt_ids())} prompts. "
          f"Ctrl+C to stop.", flush=True)
    try:
        serve(client.receiver(), args.host, args.port)
    except KeyboardInterrupt:
        pass
    finally:
        client.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--forge-url", help="the FORGE's address (ANVIL_FORGE_URL)")
    common.add_argument("--project", help="the project id (ANVIL_PROJECT); connect also takes org/project, or "
                                          "finds it from the token when left out")
    common.add_argument("--token", help="the project access token (ANVIL_ACCESS_TOKEN)")
    common.add_argument("--cache-dir", help="where the verified bundle is kept (ANVIL_CACHE_DIR)")
    common.add_argument("--public-key", help="the FORGE's public key to pin (ANVIL_FORGE_PUBLIC_KEY)")

    parser = argparse.ArgumentParser(prog="anvil-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("connect", parents=[common], help="connect to a FORGE project, pin its key, first sync")
    p.add_argument("--mode", choices=config.MODES)
    p.add_argument("--channel", metavar="NAME", help="the channel to follow (ANVIL_CHANNEL; default: the token's)")
    p.add_argument("--label", dest="labels", action="append", default=[], metavar="KEY=VALUE",
                   help="a label of this instance, for staged rollouts (repeat; ANVIL_LABELS=k=v,k=v)")
    p.set_defaults(func=cmd_connect)
    sub.add_parser("sync", parents=[common], help="pull the current bundle now").set_defaults(func=cmd_sync)
    p = sub.add_parser("mode", parents=[common], help="switch between ACCEPTING and FROZEN")
    p.add_argument("new_mode", choices=config.MODES)
    p.set_defaults(func=cmd_mode)
    p = sub.add_parser("status", parents=[common], help="what is held and where it came from")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    sub.add_parser("prompts", parents=[common], help="list the prompt ids held").set_defaults(func=cmd_prompts)
    p = sub.add_parser("render", parents=[common], help="render a prompt from the local cache",
                       description="Render a prompt held in the local cache: a text prompt's text, or a chat "
                                   "prompt's messages, each under its role, and its model configuration.")
    p.add_argument("prompt_id")
    p.add_argument("-v", "--var", dest="variables", action="append", default=[], metavar="NAME=VALUE",
                   help="a variable (repeat): NAME=VALUE, NAME:=JSON, or NAME:=@FILE for JSON in a file "
                        "(a chat prompt's history: -v history:=@history.json)")
    p.add_argument("--json", action="store_true",
                   help='print {"kind", "rendered" or "messages", "config"} as JSON')
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("serve-receiver", parents=[common],
                       help="a standalone push receiver (registers itself and keeps the cache up to date)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--public-url", help="the URL the FORGE should push to (default http://HOST:PORT/anvil/receive)")
    p.set_defaults(func=cmd_serve_receiver)
    cli_files.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        command: Callable[[argparse.Namespace], int] = args.func
        return command(args)
    except AnvilClientError as exc:
        print(f"\nanvil-client: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
