"""Request bodies: parsed with :mod:`anvil_forge.core.jsonin`, so a body that is too deep, holds a lone
surrogate or NaN is refused with 400 naming where (ninja wraps the error; :mod:`.errors` unwraps it)."""

from __future__ import annotations

from ninja.parser import Parser

from anvil_forge.core import jsonin


class JsonParser(Parser):
    def parse_body(self, request):
        return jsonin.loads(request.body)
