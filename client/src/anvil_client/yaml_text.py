"""YAML as a project's files use it: one canonical way of writing values, and a strict reader that keeps
where each value was (for errors naming ``file:line:column``). :mod:`anvil_client.project_files` builds the
file format on it; docs/prompts-as-code.md, "How the files are written" and "What is refused", says why.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

import yaml

from .errors import AnvilClientError

_WIDTH = 1 << 30  # never fold a line: folding would make diffs noisy and depend on the line's position
_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what PyYAML counts as a line break
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")
_TAG = "tag:yaml.org,2002:"

PathPart = Union[str, int]
Path_ = tuple[PathPart, ...]


class FileFormatError(AnvilClientError, ValueError):
    """A file of the project is invalid. ``str(error)`` is ``"file:line:column: message"`` (1-based; only
    ``"file: message"`` when the mistake is not at a place in the file, such as a bad file name)."""

    def __init__(self, message: str, file: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ":".join(str(part) for part in (self.file, self.line, self.column) if part is not None)
        return f"{where}: {self.message}"

    def __reduce__(self) -> Any:
        return type(self), (self.message, self.file, self.line, self.column)


class Location(NamedTuple):
    file: str
    line: int | None
    column: int | None


# --- writing ---------------------------------------------------------------------------------------


def _printable(ch: str) -> bool:
    """PyYAML's rule (with allow_unicode) for a character it writes as it is."""
    return ch == "\n" or "\x20" <= ch <= "\x7e" or (
        ("\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or "\U00010000" <= ch < "\U0010ffff")
        and ch != "\ufeff")


def _literal_ok(text: str) -> bool:
    """Whether a literal block (``|``) reads back as exactly ``text``: no trailing spaces on a line, no
    characters that need an escape, no line breaks other than ``\\n`` (YAML reads them as ``\\n``)."""
    return not text.endswith(" ") and " \n" not in text and all(_printable(ch) for ch in text)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice, never as an anchor and an alias


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = None
    if _OTHER_BREAKS.search(text):
        style = '"'  # written as they are in any other style, YAML would read them as line breaks
    elif "\n" in text:
        style = "|" if _literal_ok(text) else '"'  # (PyYAML's own fallback, single quotes, loses spaces)
    return dumper.represent_scalar(_TAG + "str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(data: Mapping[str, Any]) -> str:
    return yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_WIDTH, indent=2,
                     default_flow_style=False, line_break="\n")


# --- reading YAML, with positions ------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader refusing what Anvil files never need: aliases (``*a``), anchors (``&a``) and tags
    (``!x``). (Without aliases, a small file cannot expand into a huge value.)"""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(problem="aliases (*name) are not used in Anvil files: write the value out",
                                       problem_mark=mark)
        if getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(problem="anchors (&name) are not used in Anvil files",
                                       problem_mark=mark)
        if getattr(event, "tag", None) is not None:
            raise yaml.MarkedYAMLError(problem=f"tags ({event.tag}) are not used in Anvil files",
                                       problem_mark=mark)
        return super().compose_node(parent, index)


_CONSTRUCTOR = yaml.SafeLoader("")  # only its scalar constructors are used


def kind_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), "a value")


def parse_path(text: str) -> Path_:
    """``"tests[1].assert[0].value"`` as ``("tests", 1, "assert", 0, "value")``."""
    return tuple(int(part[1:-1]) if part.startswith("[") else part for part in re.findall(r"\[\d+\]|[^.\[\]]+", text))


class Source:
    """One YAML file read: its data, and the node each value and key came from (for positions)."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = _LINE_BREAKS.split(text)
        self.nodes: dict[Path_, yaml.Node] = {}
        self.keys: dict[Path_, yaml.Node] = {}
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            self.data = None if node is None else self._value(node, ())
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            message = ", ".join(part for part in (err.context, err.problem) if part)
            if "\\t" in message:  # (PyYAML names the character as backslash-t)
                message += " (YAML indents with spaces, never tabs)"
            raise FileFormatError(message, file, *((mark.line + 1, mark.column + 1) if mark else ())) from None
        except yaml.YAMLError as err:
            raise FileFormatError(f"invalid YAML: {err}", file) from None
        except RecursionError:
            raise FileFormatError("values are nested too deeply", file) from None
        finally:
            loader.dispose()

    def at(self, node: yaml.Node, message: str) -> FileFormatError:
        return FileFormatError(message, self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def _value(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes[path] = node
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _TAG + "str":
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "..."
                    raise self.at(key_node, f"a key must be text: write it in quotes ('{shown}') if you mean it")
                key = str(key_node.value)
                if key in result:
                    first = self.keys[path + (key,)].start_mark.line + 1
                    raise self.at(key_node, f"duplicate key '{key}' (first on line {first})")
                self.keys[path + (key,)] = key_node
                result[key] = self._value(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._value(item, path + (index,)) for index, item in enumerate(node.value)]
        tag = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
        try:
            if tag == "str":
                return node.value
            if tag == "null":
                return None
            if tag == "bool":
                return _CONSTRUCTOR.construct_yaml_bool(node)  # type: ignore[arg-type]
            if tag == "int":
                return _CONSTRUCTOR.construct_yaml_int(node)  # type: ignore[arg-type]
            if tag == "float":
                number = _CONSTRUCTOR.construct_yaml_float(node)  # type: ignore[arg-type]
        except ValueError as err:
            raise self.at(node, f"invalid number {node.value[:40]!r}: {err}") from None
        if tag == "float":
            if not math.isfinite(number):
                raise self.at(node, f"{node.value} is not a JSON number (write it in quotes if you mean the text)")
            return number
        what = "a date or time" if tag == "timestamp" else f"{node.value[:40]!r}"
        raise self.at(node, f"{what} is not a JSON value: write it in quotes if you mean the text")

    def node(self, path: Path_, *, key: bool = False) -> yaml.Node | None:
        if key and path in self.keys:
            return self.keys[path]
        while path and path not in self.nodes:
            path = path[:-1]
        return self.nodes.get(path)

    def error(self, message: str, path: Path_ = (), *, key: bool = False) -> FileFormatError:
        node = self.node(path, key=key)
        return FileFormatError(message, self.file) if node is None else self.at(node, message)

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        node = self.node(path, key=key)
        if node is None:
            return Location(self.file, None, None)
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def template_location(self, path: Path_, line: int, column: int) -> Location:
        """Where line/column (1-based) of the template at ``path`` is in the file."""
        node = self.nodes.get(path)
        if not isinstance(node, yaml.ScalarNode):
            return self.locate(path)
        start = node.start_mark
        if node.style == "|":  # the content starts on the line after the "|", at the block's indentation
            for offset, text in enumerate(node.value.split("\n")):
                index = start.line + 1 + offset
                if text and index < len(self.lines):
                    indent = len(self.lines[index]) - len(text)
                    if indent >= 0:
                        return Location(self.file, start.line + 1 + line, indent + column)
                    break
        elif line == 1 and node.end_mark.line == start.line:
            quote = 1 if node.style in ("'", '"') else 0
            return Location(self.file, start.line + 1, start.column + quote + column)
        return self.locate(path)

    # --- checking the data's shape ---

    def check_keys(self, data: Mapping[str, Any], path: Path_, known: Sequence[str]) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f" (the keys are {', '.join(known)})"
                raise self.error(f"unknown key '{key}'{hint}", path + (key,), key=True)

    def get(self, data: Mapping[str, Any], key: str, wanted: type, default: Any, path: Path_ = ()) -> Any:
        """``data[key]`` if it has type ``wanted``, ``default`` when absent or null (``...``: required)."""
        value = data.get(key)
        if value is None:
            if default is ...:
                raise self.error(f"'{key}' is required", path)
            return default() if callable(default) else default
        if not isinstance(value, wanted) or isinstance(value, bool) is not (wanted is bool):
            hint = " (YAML reads yes/no/on/off as true/false: write it in quotes)" if isinstance(value, bool) else ""
            raise self.error(f"'{key}' must be {kind_name(wanted())}, not {kind_name(value)}{hint}", path + (key,))
        return value

    def top(self) -> dict[str, Any]:
        if not isinstance(self.data, dict):
            got = "it is empty" if self.data is None else f"not {kind_name(self.data)}"
            raise self.error(f"the file must hold a mapping (key: value lines), {got}")
        return self.data
