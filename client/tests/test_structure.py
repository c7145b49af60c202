"""The package's layering: the modules of ``anvil_client.templates`` and the parts of ``Client`` each import
only the ones before them, and the public names stay where they have always been importable from."""

import ast
import pickle
import re
from pathlib import Path

import pytest

import anvil_client
from anvil_client import templates as tpl

SOURCE = Path(anvil_client.__file__).parent

# Every public name of the single module anvil_client/templates.py was before it became a package.
TEMPLATE_NAMES = [
    "AnvilEnvironment", "CompiledTemplate", "ENVIRONMENT", "LimitExceeded", "MAX_INTEGER_DIGITS", "MAX_LOCALS_SIZE",
    "MAX_LOOP_ITERATIONS", "MAX_MARKUP_BRACKETS", "MAX_NESTING_DEPTH", "MAX_OUTPUT_SIZE", "MAX_RENDER_SECONDS",
    "MAX_TEMPLATE_SIZE", "PARAMETER_TYPES", "Parameter", "ParameterCheck", "ParameterDefinitionError",
    "ParameterError", "PreparedPrompt", "RenderError", "Scalar", "TemplateError", "TemplateSyntaxError",
    "TemplateTooLarge", "UndefinedVariableError", "bullet_list", "check_parameters", "coerce_values",
    "compile_template", "estimate_tokens", "indent", "json_filter", "parse_parameters", "prepare", "render",
    "strip_blank_lines", "token_count", "truncate_tokens", "variables",
]
CLIENT_NAMES = ["ACCEPTING", "Client", "FROZEN", "MAX_PROMPT_ID", "MAX_USE_COUNTS", "SyncResult", "_Entry", "_Table",
                "_is_loopback", "_now"]
# The Client's parts, in dependency order (client.py is the façade over the three).
CLIENT_PARTS = ["_table", "_remote", "_background", "client"]


def runtime_imports(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from .x import …``, ``from . import x``), leaving out those
    under ``if TYPE_CHECKING:``, which are never imported at run time."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def template_layout() -> list[str]:
    """The module order the package docstring documents."""
    return re.findall(r"^    (\w+)  ", tpl.__doc__.split("Layout")[1], re.M)


def test_the_documented_layout_lists_every_template_module():
    modules = sorted(p.stem for p in (SOURCE / "templates").glob("*.py") if p.stem != "__init__")
    assert sorted(template_layout()) == modules


@pytest.mark.parametrize("position, module", list(enumerate(template_layout())))
def test_a_template_module_imports_only_the_ones_before_it(position, module):
    earlier = set(template_layout()[:position])
    assert runtime_imports(SOURCE / "templates" / f"{module}.py") <= earlier


@pytest.mark.parametrize("position, part", list(enumerate(CLIENT_PARTS)))
def test_a_client_part_imports_only_the_parts_before_it(position, part):
    later = set(CLIENT_PARTS[position + 1:]) | {"cli"} | ({"receiver"} if part != "client" else set())
    assert runtime_imports(SOURCE / f"{part}.py") & later == set()  # (client.receiver() imports the receiver)


def test_the_receiver_uses_the_clients_public_methods_only():
    source = (SOURCE / "receiver.py").read_text()
    assert re.findall(r"client\._\w+", source) == []


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_public_template_name_is_importable_from_the_package(name):
    assert getattr(tpl, name) is not None


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_the_client_modules_names_are_still_importable_from_it(name):
    from anvil_client import client

    assert getattr(client, name) is not None


def test_public_template_classes_still_say_they_are_in_anvil_client_templates():
    assert repr(tpl.TemplateSyntaxError) == "<class 'anvil_client.templates.TemplateSyntaxError'>"
    error = pickle.loads(pickle.dumps(tpl.TemplateError("boom")))
    assert type(error) is tpl.TemplateError and str(error) == "boom"
    parameter = tpl.Parameter("n", "number", required=False, default="3")
    assert pickle.loads(pickle.dumps(parameter)) == parameter
