"""The status changes of a prompt set: who may make each, and its audit verb (read by services and queries)."""

from anvil_forge.orgs.policy import Action

from .models import Status

# (from, to) -> the action that allows it and the audit verb
TRANSITIONS = {
    (Status.LIVE, Status.REVIEW): (Action.SUBMIT_REVIEW, "submit"),
    (Status.REVIEW, Status.LOCKED): (Action.APPROVE, "approve"),
    (Status.REVIEW, Status.LIVE): (Action.APPROVE, "reject"),
    (Status.LOCKED, Status.LIVE): (Action.APPROVE, "unlock"),
}
