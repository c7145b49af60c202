"""The Liquid template environment shared by the FORGE server and ``anvil_client``.

Both sides import this one module, so a prompt renders byte-identically on the
server (previews, tests) and in a production application.  It wraps a single
python-liquid 2 environment, :data:`ENVIRONMENT`, configured for prompts:

* plain text output: HTML auto-escaping is off;
* undefined variables are errors (:class:`UndefinedVariableError`), never
  silent blanks; the only thing a template can do with an undefined value is
  pass it to the ``default`` filter;
* sandboxed: a template sees only the values given to :func:`render` (which
  must be JSON-like: dict, list, str, int, float, bool, None).  The builtin
  ``now``/``today`` variables are removed, the ``date`` filter does not read
  the clock, and ``{% include %}`` is rejected when the template is compiled;
  ``{% render 'name', key: value %}`` renders another prompt (a *partial*)
  from a mapping the caller gives, in Liquid's isolated scope: the partial
  sees only the arguments passed, checked against its own parameters, so
  nothing ever touches the file system and analysis is exact;
* bounded: template size, loop iterations (cumulative over the whole render,
  nested loops and partials included), range sizes, output size, block
  nesting, partial depth, the size of assigned variables, integer size and CPU
  time are all limited; exceeding a limit raises :class:`LimitExceeded`;
* chat prompts (:class:`PreparedChat`): a list of messages, each a role and a
  template, or a placeholder filled with the application's messages;
* a few filters for LLM prompts: ``token_count``, ``truncate_tokens``,
  ``json``, ``bullet_list``, ``indent`` and ``strip_blank_lines``.

Every failure is reported as a subclass of :class:`TemplateError`; compiling and
rendering never leak a raw liquid or Python exception.

Typical use::

    params = parse_parameters([{"name": "user", "type": "string"}])
    compiled = compile_template("Hello {{ user }}!")   # cache this
    check_parameters(compiled, params).ok              # -> True
    render(compiled, {"user": "Ann"}, params)          # -> "Hello Ann!"

Layout
------

The package is split along the stages of a template's life.  Each module
imports only the modules listed before it (``tests/test_structure.py`` checks
this), so the dependency graph is acyclic::

    limits        the MAX_* constants and PARAMETER_TYPES
    errors        TemplateError and its subclasses; liquid errors -> ours
    sandbox       strict undefined, output buffer, render context, bound template
    filters       the prompt filters, the clock-free date filter, the filter guard
    environment   AnvilEnvironment and ENVIRONMENT
    parsetree     bounded ranges, fast node classes, plain-substitution detection
    parsing       prescan, parse + analysis, which names can be variables
    coercion      one value to a parameter type, JSON Schema checks, JSON-like copies
    parameters    Parameter, parse_parameters, coerce_values
    compiler      CompiledTemplate, compile_template, variables, check_parameters
    rendering     render, PreparedPrompt, prepare
    chat          chat prompts: parse_messages, PreparedChat, placeholders

Everything public is re-exported here; import from ``anvil_client.templates``,
not from the modules, which are an implementation detail.
"""

from __future__ import annotations

# Names imported "as" themselves are public but outside __all__, as they were in the single module this
# package replaced (the filter functions, Scalar).
from .chat import ROLES, Message, MessageDefinitionError, Placeholder, PreparedChat, check_history, parse_messages
from .compiler import CompiledTemplate, ParameterCheck, PartialReference, check_parameters, compile_template, variables
from .environment import ENVIRONMENT, AnvilEnvironment
from .errors import (
    LimitExceeded,
    ParameterDefinitionError,
    ParameterError,
    PartialError,
    RenderError,
    TemplateError,
    TemplateSyntaxError,
    TemplateTooLarge,
    UndefinedVariableError,
)
from .filters import bullet_list as bullet_list
from .filters import estimate_tokens
from .filters import indent as indent
from .filters import json_filter as json_filter
from .filters import strip_blank_lines as strip_blank_lines
from .filters import token_count as token_count
from .filters import truncate_tokens as truncate_tokens
from .limits import (
    MAX_INTEGER_DIGITS,
    MAX_LOCALS_SIZE,
    MAX_LOOP_ITERATIONS,
    MAX_MARKUP_BRACKETS,
    MAX_NESTING_DEPTH,
    MAX_MESSAGES,
    MAX_OUTPUT_SIZE,
    MAX_PARTIAL_DEPTH,
    MAX_RENDER_SECONDS,
    MAX_TEMPLATE_SIZE,
    PARAMETER_TYPES,
)
from .parameters import Parameter, coerce_values, parse_parameters
from .parameters import Scalar as Scalar
from .rendering import PreparedPrompt, prepare, render

__all__ = [
    "ENVIRONMENT",
    "MAX_INTEGER_DIGITS",
    "MAX_LOCALS_SIZE",
    "MAX_LOOP_ITERATIONS",
    "MAX_MARKUP_BRACKETS",
    "MAX_NESTING_DEPTH",
    "MAX_MESSAGES",
    "MAX_OUTPUT_SIZE",
    "MAX_PARTIAL_DEPTH",
    "MAX_RENDER_SECONDS",
    "MAX_TEMPLATE_SIZE",
    "PARAMETER_TYPES",
    "ROLES",
    "AnvilEnvironment",
    "CompiledTemplate",
    "PreparedPrompt",
    "LimitExceeded",
    "Message",
    "MessageDefinitionError",
    "Parameter",
    "ParameterCheck",
    "ParameterDefinitionError",
    "ParameterError",
    "PartialError",
    "PartialReference",
    "Placeholder",
    "PreparedChat",
    "RenderError",
    "TemplateError",
    "TemplateSyntaxError",
    "TemplateTooLarge",
    "UndefinedVariableError",
    "check_history",
    "check_parameters",
    "coerce_values",
    "compile_template",
    "estimate_tokens",
    "parse_messages",
    "parse_parameters",
    "prepare",
    "render",
    "variables",
]

# The public classes keep the module they have always been documented in: their
# reprs, tracebacks and pickles say ``anvil_client.templates.TemplateError``,
# not the module that happens to define them.
for _cls in (
    AnvilEnvironment,
    CompiledTemplate,
    LimitExceeded,
    Message,
    MessageDefinitionError,
    Parameter,
    ParameterCheck,
    ParameterDefinitionError,
    ParameterError,
    PartialError,
    PartialReference,
    Placeholder,
    PreparedChat,
    PreparedPrompt,
    RenderError,
    TemplateError,
    TemplateSyntaxError,
    TemplateTooLarge,
    UndefinedVariableError,
):
    _cls.__module__ = __name__
del _cls
