from django import template
from django.utils.html import format_html

from ..links import url_for as _url_for

register = template.Library()

STATUS_HELP = {
    "live": "being edited",
    "review": "waiting for approval; edits refused",
    "locked": "production-ready; edits refused",
}

ACTIONS = {
    "user.signup": "signed up",
    "user.password_changed": "changed their password",
    "organisation.create": "created the organisation",
    "organisation.update": "updated the organisation",
    "organisation.delete": "deleted the organisation",
    "member.invite": "invited",
    "member.add": "added member",
    "member.join": "joined",
    "member.role": "changed the role of",
    "api_key.create": "created an API key",
    "api_key.revoke": "revoked an API key",
    "member.remove": "removed",
    "project.create": "created project",
    "project.update": "updated project",
    "project.delete": "deleted project",
    "project.import": "imported project",
    "project.connect": "connected remote project",
    "project.disconnect": "disconnected remote project",
    "prompt_set.create": "created prompt set",
    "prompt_set.update": "updated prompt set",
    "prompt_set.delete": "deleted prompt set",
    "prompt_set.submit": "submitted for review",
    "prompt_set.approve": "approved and locked",
    "prompt_set.reject": "rejected the review of",
    "prompt_set.unlock": "unlocked",
    "prompt.create": "created prompt",
    "prompt.update": "edited prompt",
    "prompt.delete": "deleted prompt",
    "version.create": "created version",
    "version.rollback": "rolled back with version",
    "version.delete": "deleted version",
    "version.approve": "approved version",
    "project.export": "exported project",
    "peer.read": "read through the peering API",
    "user.sign_in": "signed in",
    "user.sign_in_failed": "failed to sign in",
}


@register.simple_tag
def url_for(obj, action=""):
    return _url_for(obj, action)


@register.filter
def status_badge(status):
    status = str(status or "")
    return format_html('<span class="badge status-{}" title="{}">{}</span>', status,
                       STATUS_HELP.get(status, ""), status.upper())


@register.filter
def role_badge(role):
    return format_html('<span class="badge role-{}">{}</span>', role or "none", role or "—")


@register.filter
def audit_action(action):
    return ACTIONS.get(action, action.replace("_", " ").replace(".", " "))


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def json_value(value):
    import json

    return json.dumps(value, ensure_ascii=False)


@register.filter
def json_pretty(value):
    """JSON indented for reading (a version's test cases)."""
    import json

    return json.dumps(value, ensure_ascii=False, indent=2)


@register.filter
def message_label(message):
    """A chat prompt's message in a word or two: its role, or "placeholder NAME"."""
    if not isinstance(message, dict):
        return "?"
    if "placeholder" in message:
        return f"placeholder {message['placeholder']}"
    return str(message.get("role") or "?")


@register.filter
def ago(value):
    """"just now", "5 minutes ago", "3 days ago"."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value).split(',')[0]} ago"


@register.filter
def audit_target(event):
    """What an audit event was about, in words (invitations have no useful name of their own)."""
    summary = event.summary or {}
    if event.action in ("member.invite", "member.add", "member.remove"):
        role = f" as {summary['role']}" if summary.get("role") else ""
        return f"{summary.get('email', event.target_repr)}{role}"
    if event.action == "member.join":
        return f"as {summary.get('role', 'member')}"
    if event.action == "member.role":
        return f"{summary.get('email', event.target_repr)} → {summary.get('to', '?')}"
    return event.target_repr
