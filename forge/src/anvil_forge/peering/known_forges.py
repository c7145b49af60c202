"""The known forges: other FORGEs this one may browse, configured by the operator.

``settings.ANVIL_KNOWN_FORGES`` (environment variable of the same name) is one of:

* a path to a TOML file (``*.toml``)::

      [[forges]]
      name = "staging"
      url = "https://anvil-staging.example.com"
      token = "env:ANVIL_STAGING_TOKEN"

* a path to a JSON file (any other name): ``[{"name": …, "url": …, "token": …}]`` or
  ``{"forges": [...]}``;
* the same JSON inline (a value starting with ``[`` or ``{``).

``token`` is an API key of a user on the remote FORGE (read scope is enough to
browse and import), either literally or as ``env:VARNAME`` to read it from the
environment. Tokens are wrapped in :class:`Secret`, whose ``str`` and ``repr``
hide the value, so they cannot slip into pages, logs or error messages; only
:mod:`.remote` reveals one, to put it in the ``Authorization`` header.

Configuration errors raise :class:`KnownForgesError`, whose message names the
entry and the field (never a token).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from anvil_forge.core.errors import NotFound

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
ENV_PREFIX = "env:"


class KnownForgesError(Exception):
    """The known-forges configuration is wrong; the message says where (never what a token is)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Secret:
    """A token that does not show itself: ``str``/``repr``/format give ``'•••'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('•••')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):  # never pickled (e.g. into a cache or a session) with its value
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class KnownForge:
    name: str
    url: str  # without a trailing slash, e.g. "https://anvil.example.com"
    token: Secret = field(repr=False, compare=False)
    token_source: str = field(default="inline", compare=False)  # "inline" or "env:VARNAME" (for operators' pages)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


def _where(index: int, name: str | None) -> str:
    return f"known forge '{name}'" if name else f"known forge #{index + 1}"


def _entry(index: int, raw, environ) -> KnownForge:
    if not isinstance(raw, dict):
        raise KnownForgesError(f"known forge #{index + 1} must be an object with name, url and token")
    name = raw.get("name")
    where = _where(index, name if isinstance(name, str) else None)
    unknown = sorted(set(raw) - {"name", "url", "token"})
    if unknown:
        raise KnownForgesError(f"{where}: unknown field(s) {', '.join(unknown)} (expected name, url, token)")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise KnownForgesError(f"{where}: 'name' must be 1-64 letters, digits, spaces, '.', '_' or '-', "
                               "starting with a letter or digit")
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise KnownForgesError(f"{where}: 'url' is missing")
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise KnownForgesError(f"{where}: 'url' must be an http:// or https:// address like https://anvil.example.com")
    if parts.username or parts.password:
        raise KnownForgesError(f"{where}: 'url' must not contain credentials (put the API key in 'token')")
    token = raw.get("token")
    if not isinstance(token, str) or not token.strip():
        raise KnownForgesError(f"{where}: 'token' is missing (an API key of a user on that FORGE, "
                               "or env:VARNAME)")
    token = token.strip()
    source = "inline"
    if token.startswith(ENV_PREFIX):
        variable = token[len(ENV_PREFIX):].strip()
        if not variable:
            raise KnownForgesError(f"{where}: 'token' env: needs a variable name, e.g. env:ANVIL_PEER_TOKEN")
        value = (environ.get(variable) or "").strip()
        if not value:
            raise KnownForgesError(f"{where}: the environment variable {variable} (its token) is not set")
        token, source = value, f"env:{variable}"
    if any(c.isspace() for c in token):
        raise KnownForgesError(f"{where}: the token must not contain white space")
    return KnownForge(name=name, url=url, token=Secret(token), token_source=source)


def _document(value: str) -> tuple[object, str]:
    """The parsed configuration and a description of where it came from (for messages)."""
    text = value.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text), "ANVIL_KNOWN_FORGES (inline JSON)"
        except json.JSONDecodeError as exc:
            raise KnownForgesError(f"ANVIL_KNOWN_FORGES is not valid JSON: {exc.msg} at line {exc.lineno}, "
                                   f"column {exc.colno}") from None
    path = Path(text).expanduser()
    origin = f"ANVIL_KNOWN_FORGES file {path}"
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise KnownForgesError(f"{origin} does not exist") from None
    except OSError as exc:
        raise KnownForgesError(f"{origin} cannot be read: {exc.strerror}") from None
    try:
        decoded = content.decode("utf-8")
    except UnicodeDecodeError:
        raise KnownForgesError(f"{origin} is not UTF-8 text") from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(decoded), origin
        except tomllib.TOMLDecodeError as exc:
            raise KnownForgesError(f"{origin} is not valid TOML: {exc}") from None
    try:
        return json.loads(decoded), origin
    except json.JSONDecodeError as exc:
        raise KnownForgesError(f"{origin} is not valid JSON (use a .toml name for TOML): {exc.msg} at line "
                               f"{exc.lineno}, column {exc.colno}") from None


def parse(value: str | None, environ=None) -> list[KnownForge]:
    """The known forges a configuration value describes (empty or unset: none)."""
    if value is None or not str(value).strip():
        return []
    environ = os.environ if environ is None else environ
    document, origin = _document(str(value))
    if isinstance(document, dict):
        unknown = sorted(set(document) - {"forges"})
        if unknown:
            raise KnownForgesError(f"{origin}: unknown key(s) {', '.join(unknown)} (expected 'forges')")
        document = document.get("forges", [])
    if not isinstance(document, list):
        raise KnownForgesError(f"{origin} must be a list of forges ({{name, url, token}})")
    forges, names = [], set()
    for index, raw in enumerate(document):
        forge = _entry(index, raw, environ)
        if forge.name.lower() in names:
            raise KnownForgesError(f"known forge '{forge.name}' is listed twice")
        names.add(forge.name.lower())
        forges.append(forge)
    return forges


def known_forges() -> list[KnownForge]:
    """The configured forges, in the configured order (read at each call: cheap, and tests can change it)."""
    return parse(settings.ANVIL_KNOWN_FORGES)


def get_forge(name: str) -> KnownForge:
    """A known forge by name (case-insensitive); ``NotFound`` when there is none of that name."""
    for forge in known_forges():
        if forge.name.lower() == (name or "").lower():
            return forge
    raise NotFound(f"no known forge is named {name!r}")


def names() -> list[str]:
    return [forge.name for forge in known_forges()]
