"""Shapes of prompt test cases (docs/prompt-tests.md) for the OpenAPI document. The service layer checks them
(anvil_client.testcases): a bad case is 422 naming where, e.g. `tests[1].assert[0].value`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict

from anvil_client.testcases import ASSERTION_TYPES

from .schemas import DocumentedAs, _no_nul

AssertionType = Literal[ASSERTION_TYPES]  # type: ignore[valid-type]


class TestAssertion(Schema):
    """One check of the rendered output."""

    model_config = ConfigDict(extra="forbid")

    type: AssertionType
    value: Any = Field(None, description="what the type compares with (docs/prompt-tests.md); none for "
                                         "`snapshot`, a JSON Schema for `json-schema`")
    target: int | str | None = Field(None, description="chat prompts: a message index (negative from the "
                                                       "end) or a role (its last message); none: the whole output")
    name: str | None = None


class TestCase(Schema):
    """A prompt rendered with `variables` and checked by the assertions of `assert`."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    variables: dict[str, Any] = Field(default_factory=dict)
    assert_: list[TestAssertion] = Field(default_factory=list, alias="assert")
    snapshot: str | None = Field(None, description="the stored rendering a `snapshot` assertion compares with")


TESTS_ABOUT = ("the prompt's test cases (docs/prompt-tests.md), run on every version, by the locking gate and "
               "offline by `anvil-client test`; replaces the whole list")
Tests = Annotated[list[Any], AfterValidator(_no_nul), DocumentedAs(list[TestCase])]


class AssertionResultOut(Schema):
    type: str
    target: int | str | None
    name: str | None
    passed: bool
    message: str = Field(description="empty when it passed, else what was expected and what was got")


class CaseResultOut(Schema):
    name: str
    passed: bool
    error: str | None = Field(description="the render's error, if it failed")
    failures: list[str] = Field(description="why the case failed, a line per reason")
    assertions: list[AssertionResultOut]


class TestRunOut(Schema):
    total: int
    passed: int
    failed: int
    results: list[CaseResultOut]


class SnapshotUpdateIn(Schema):
    names: list[str] | None = Field(None, description="the tests whose snapshots to update; none: all")


class SnapshotUpdateOut(Schema):
    updated: list[str] = Field(description="the tests whose snapshot changed")


def run_out(results) -> dict:
    rows = [{"name": r.name, "passed": r.passed, "error": r.error, "failures": r.failures,
             "assertions": [{"type": a.type, "target": a.target, "name": a.name, "passed": a.passed,
                             "message": a.message} for a in r.assertions]} for r in results]
    passed = sum(1 for r in results if r.passed)
    return {"total": len(rows), "passed": passed, "failed": len(rows) - passed, "results": rows}
