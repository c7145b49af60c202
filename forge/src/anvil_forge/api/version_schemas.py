"""Request and response shapes of versions (a prompt set's frozen snapshots) and of
the diff between two of them, or between one and the working copy."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from anvil_forge.prompts import queries as prompt_queries

from .prompt_schemas import (
    ChatMessage,
    ConfigValue,
    Dependencies,
    MessagePlaceholder,
    Messages,
    ParameterOut,
    PromptConfigValue,
)
from .test_schemas import Tests
from .schemas import DocumentedAs, Resource, Text


# --- versions -------------------------------------------------------------------------

class ApprovalOut(Schema):
    source: Literal["review", "version", "import", "earlier"] = Field(
        description="review: the set's review was approved with this content; version: an approver approved "
                    "this version; import: imported LOCKED; earlier: published or LOCKED before approvals "
                    "were recorded")
    approved_at: datetime.datetime = Field(validation_alias="created_at")
    approved_by_email: str | None = None
    version: str | None = Field(None, description="the version that was approved, when one was")

    @staticmethod
    def resolve_approved_by_email(obj):
        return obj.approved_by.email if obj.approved_by_id and obj.approved_by else None

    @staticmethod
    def resolve_version(obj):
        return obj.version.label if obj.version_id and obj.version else None


class VersionOut(Resource):
    prompt_set_id: uuid.UUID
    label: str
    changelog: str
    sequence: int
    created_by_id: uuid.UUID | None
    created_by_email: str | None
    first_published_at: datetime.datetime | None
    approval: ApprovalOut | None = Field(
        description="why this version may be published: its content was approved (null: it needs approval)")
    locks: dict[str, str] = Field(description="dependency slug → the exact version this version renders its "
                                              "partials from ({} without dependencies)",
                                  examples=[{"common": "1.2.3"}])
    test_results: TestResults | None = Field(
        description="what its prompts' tests gave when the version was made (null: it has no tests)")

    @staticmethod
    def resolve_created_by_email(obj):
        return obj.created_by.email if obj.created_by_id and obj.created_by else None

    @staticmethod
    def resolve_approval(obj):
        return prompt_queries.approval_of(obj)

    @staticmethod
    def resolve_locks(obj):
        return dict((obj.snapshot or {}).get("locks") or {})


class PromptSnapshot(Schema):
    name: str
    description: str = ""
    kind: Literal["text", "chat"] = "text"
    template: str = ""
    messages: Messages = []
    parameters: list[ParameterOut] = []
    config: PromptConfigValue = {}
    metadata: dict[str, Any] = {}
    tests: Tests = []


class TestCaseResult(Schema):
    name: str
    passed: bool
    failures: list[str] = Field([], description="why it failed, a line per reason")


class TestResults(Schema):
    """What the version's tests gave when it was made."""

    total: int
    passed: int
    failed: int
    prompts: dict[str, list[TestCaseResult]] = Field(description="by prompt slug: each test's result")


class Snapshot(Schema):
    name: str
    description: str = ""
    metadata: dict[str, Any] = {}
    config: ConfigValue = Field({}, description="the set's model configuration defaults")
    dependencies: Dependencies = Field({}, description="the declared dependencies: set slug → specifier")
    locks: dict[str, str] = Field({}, description="what each dependency resolved to: set slug → exact label")
    prompts: dict[str, PromptSnapshot] = Field(description="by prompt slug")


class VersionDetailOut(VersionOut):
    snapshot: Snapshot


class VersionCreate(Schema):
    label: Text = Field(max_length=128, description="Semantic Versioning 2.0.0, above every existing label",
                        examples=["1.2.0"])
    changelog: Text = ""


class RollbackIn(Schema):
    to: Text = Field(max_length=128, description="the label of the version to go back to")
    label: Text = Field(max_length=128, description="the new version's label")
    changelog: Text | None = Field(None, description="defaults to 'Roll back to <to>'")


class Change(Schema):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class TemplateLine(Schema):
    op: Literal["equal", "add", "remove"]
    old_no: int | None
    new_no: int | None
    text: str


class TemplateDiff(Schema):
    unified: str
    lines: list[TemplateLine]


class ParameterChange(Schema):
    name: str
    changes: dict[str, Change]


class ParameterDiff(Schema):
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[ParameterChange]


class MappingDiff(Schema):
    added: dict[str, Any] = Field(description="key → its new value")
    removed: dict[str, Any] = Field(description="key → its old value")
    changed: dict[str, Change]


AnyMessage = Annotated[Any, DocumentedAs(ChatMessage | MessagePlaceholder)]


class MessageEqual(Schema):
    op: Literal["equal"]
    old_index: int
    new_index: int
    message: AnyMessage


class MessageAdded(Schema):
    op: Literal["add"]
    new_index: int
    message: AnyMessage


class MessageRemoved(Schema):
    op: Literal["remove"]
    old_index: int
    message: AnyMessage


class MessageChanged(Schema):
    model_config = ConfigDict(populate_by_name=True)

    op: Literal["change"]
    old_index: int
    new_index: int
    from_: AnyMessage = Field(alias="from")
    to: AnyMessage
    content: TemplateDiff | None = Field(description="line diff of the two contents; null when only the role "
                                                     "changed or either is a placeholder")


MessageOp = Annotated[MessageEqual | MessageAdded | MessageRemoved | MessageChanged, Field(discriminator="op")]


class MessagesDiff(Schema):
    ops: list[MessageOp] = Field(description="the aligned message lists, in order (0-based indices)")


class PromptChange(Schema):
    slug: str
    fields: dict[str, Change]
    template: TemplateDiff | None
    parameters: ParameterDiff
    kind: Change | None = Field(description="null: the kind is the same")
    config: MappingDiff
    messages: MessagesDiff | None = Field(description="null: the messages are the same (always, for text prompts)")
    tests: TemplateDiff | None = Field(None, description="the line diff of the test cases (each case as indented "
                                                        "JSON); null: the same")


class PromptsDiff(Schema):
    added: list[str]
    removed: list[str]
    unchanged: list[str]
    changed: list[PromptChange]


class SetDiff(Schema):
    changed_fields: dict[str, Change]
    config: MappingDiff = Field(description="the set's model configuration defaults")
    dependencies: MappingDiff
    locks: MappingDiff = Field(description="what the dependencies resolve to")


class DiffSummary(Schema):
    added: int
    removed: int
    changed: int
    unchanged: int


class DiffOut(Schema):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str | None = Field(description="null: the working copy")
    set_: SetDiff = Field(alias="set")
    prompts: PromptsDiff
    summary: DiffSummary
