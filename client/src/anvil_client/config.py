"""Where the client's settings come from: arguments, then ``ANVIL_*`` environment, then the config file.

The config file is JSON, written by ``anvil-client connect``; its path is
``$ANVIL_CONFIG`` or ``.anvil/client.json`` under the current directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .bundle import CHANNEL_PATTERN
from .cache import atomic_write
from .errors import ConfigurationError

MODES = ("accepting", "frozen")
DEFAULT_DIR = ".anvil"
FIELDS = ("forge_url", "project", "access_token", "mode", "cache_dir", "public_key", "channel", "labels",
          "instance_id")
ENV = {field: f"ANVIL_{field.upper()}" for field in FIELDS} | {"public_key": "ANVIL_FORGE_PUBLIC_KEY"}
# The limits the FORGE holds registrations to (labels select instances for a staged rollout).
MAX_LABELS = 20
LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
MAX_LABEL_VALUE = 128
INSTANCE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


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
    channel: str | None = None
    labels: dict[str, str] | None = None
    instance_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


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
    values: dict[str, Any] = {}
    for field in FIELDS:
        value = given.get(field)
        if value is None:
            value = os.environ.get(ENV[field])
            if value and field == "labels":
                value = parse_labels(value, ENV[field])
            value = value or from_file.get(field)
        values[field] = value
    settings = Settings(**values)
    settings.channel = check_channel(settings.channel)
    settings.labels = check_labels(settings.labels)
    settings.instance_id = check_instance_id(settings.instance_id)
    if settings.mode is not None:
        settings.mode = str(settings.mode).lower()
        if settings.mode not in MODES:
            raise ConfigurationError(f"mode {settings.mode!r} is not one of {', '.join(MODES)}")
    if settings.forge_url:
        settings.forge_url = settings.forge_url.rstrip("/")
        if not settings.forge_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"forge_url {settings.forge_url!r} must start with https:// (or http:// on loopback)")
    return settings


def parse_labels(text: str, setting: str = "labels") -> dict[str, str]:
    """``region=eu,tier=gold`` (``ANVIL_LABELS``) as a mapping."""
    labels: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigurationError(f"{setting}: {pair!r} is not KEY=VALUE")
        labels[key.strip()] = value.strip()
    return labels


def check_channel(channel: Any) -> str | None:
    if channel is None:
        return None
    if not isinstance(channel, str) or not CHANNEL_PATTERN.fullmatch(channel):
        raise ConfigurationError(f"channel {channel!r} is not a channel name (1-64 of a-z, 0-9 and '-', "
                                 f"starting with a letter or digit)")
    return channel


def check_labels(labels: Any) -> dict[str, str]:
    """At most 20 labels; keys like ``region`` or ``app.tier``, values of at most 128 printable characters."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ConfigurationError(f"labels must be a mapping of KEY to VALUE, not {type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise ConfigurationError(f"labels: {len(labels)} given, at most {MAX_LABELS} are allowed")
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise ConfigurationError(f"labels: key {key!r} must be 1-63 of a-z, 0-9, '_', '.', '-', starting "
                                     f"with a letter or digit")
        if not isinstance(value, str) or len(value) > MAX_LABEL_VALUE or not value.isprintable():
            raise ConfigurationError(f"labels: the value of {key!r} must be a string of at most "
                                     f"{MAX_LABEL_VALUE} printable characters")
    return dict(labels)


def check_instance_id(instance_id: Any) -> str | None:
    if instance_id is None:
        return None
    if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
        raise ConfigurationError(f"instance_id {instance_id!r} must be 1-64 of A-Z, a-z, 0-9, '_', '.', ':', '-'")
    return instance_id
