"""Where the client's settings come from: arguments, then ``ANVIL_*`` environment, then the config file.

The config file is JSON, written by ``anvil-client connect``; its path is
``$ANVIL_CONFIG`` or ``.anvil/client.json`` under the current directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .cache import atomic_write
from .errors import ConfigurationError

MODES = ("accepting", "frozen")
DEFAULT_DIR = ".anvil"
FIELDS = ("forge_url", "project", "access_token", "mode", "cache_dir", "public_key")
ENV = {field: f"ANVIL_{field.upper()}" for field in FIELDS} | {"public_key": "ANVIL_FORGE_PUBLIC_KEY"}


def config_path() -> Path:
    return Path(os.environ.get("ANVIL_CONFIG") or Path(DEFAULT_DIR) / "client.json")


@dataclass
class Settings:
    forge_url: str | None = None
    project: str | None = None
    access_token: str | None = None
    mode: str | None = None
    cache_dir: str | None = None
    public_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def read_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigurationError(f"{path} is not valid JSON (nested too deeply to parse)") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a JSON object")
    return data


def write_file(settings: Settings, path: Path | None = None) -> Path:
    path = path or config_path()
    atomic_write(path, json.dumps(settings.to_dict(), indent=2).encode() + b"\n")
    os.chmod(path, 0o600)  # it holds the access token
    return path


def resolve(**given: Any) -> Settings:
    """Merge arguments (non-None) over the environment over the config file."""
    from_file = read_file()
    values = {}
    for field in FIELDS:
        value = given.get(field)
        if value is None:
            value = os.environ.get(ENV[field]) or from_file.get(field)
        values[field] = value
    settings = Settings(**values)
    if settings.mode is not None:
        settings.mode = str(settings.mode).lower()
        if settings.mode not in MODES:
            raise ConfigurationError(f"mode {settings.mode!r} is not one of {', '.join(MODES)}")
    if settings.forge_url:
        settings.forge_url = settings.forge_url.rstrip("/")
        if not settings.forge_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"forge_url {settings.forge_url!r} must start with https:// (or http:// on loopback)")
    return settings
