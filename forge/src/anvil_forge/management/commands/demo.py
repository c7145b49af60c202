"""Demo data: an organisation, a project, prompt sets with prompts and versions: 'emails' (LOCKED), 'chat',
and a chat prompt 'support.reply' whose system message renders the shared partial 'common.tone' (both
LOCKED and published, so an app can serve them at once).

Idempotent: a second run finds the demo organisation and changes nothing.
"""

import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from anvil_forge.accounts import queries as account_queries
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs.services import create_organisation, create_user, invite_member
from anvil_forge.prompts import services as prompts

ADMIN_EMAIL = "admin@anvil.local"
MEMBER_EMAIL = "member@anvil.local"
OPS_EMAIL = "ops@anvil.local"  # a second admin of acme: four-eyes approval needs someone other than the requester

EMAILS = [
    ("Welcome", "welcome",
     "Write a warm welcome e-mail to {{ name }}, who just joined as {{ role }}.\n"
     "{% if trial %}Mention that their trial lasts {{ trial_days }} days.{% endif %}\n"
     "Keep it under {{ max_words | default: 120 }} words.",
     [{"name": "name", "type": "string", "description": "customer's first name"},
      {"name": "role", "type": "string", "description": "their role", "required": False, "default": "member"},
      {"name": "trial", "type": "boolean", "required": False, "default": False},
      {"name": "trial_days", "type": "number", "required": False, "default": 14},
      {"name": "max_words", "type": "number", "required": False, "default": 120}]),
    ("Password reset", "password_reset",
     "Explain to {{ name }} how to reset their password. The link expires in {{ hours }} hours.\n"
     "Do not include the link itself; it is added by the application.",
     [{"name": "name", "type": "string"}, {"name": "hours", "type": "number", "required": False, "default": 24}]),
    ("Churn save", "churn_save",
     "{{ name }} is about to cancel. In their words:\n\n{{ reasons }}\n\n"
     "Write a short, honest reply that addresses each reason{% if offer %} and offers {{ offer }}{% endif %}.",
     [{"name": "name", "type": "string"},
      {"name": "offer", "type": "string", "required": False, "default": ""}]),
]

CHAT = [
    ("System", "system",
     "You are {{ assistant_name }}, a support assistant for {{ product }}.\n"
     "Answer in {{ language | default: 'English' }}. Be concise and cite help-centre articles when you can.",
     [{"name": "assistant_name", "type": "string", "required": False, "default": "Anvil"},
      {"name": "product", "type": "string"},
      {"name": "language", "type": "string", "required": False, "default": "English"}]),
    ("Summarise ticket", "summarise",
     "Summarise this support ticket in at most {{ bullets }} bullet points:\n\n{{ ticket | truncate_tokens: 800 }}",
     [{"name": "bullets", "type": "number", "required": False, "default": 3}, {"name": "ticket", "type": "string"}]),
]


TONE = ("Tone", "tone",
        "Be friendly and plain-spoken{% if tier == 'pro' %}; this is a Pro customer, so go into detail{% endif %}.\n"
        "Never promise refunds.",
        [{"name": "tier", "type": "string", "description": "the customer's plan: free or pro"}])

REPLY_MESSAGES = [
    {"role": "system", "content": "You are the support assistant of {{ product }}. {% render 'common.tone', tier: tier %}"},
    {"placeholder": "history"},
    {"role": "user", "content": "{{ question }}"},
]
REPLY_PARAMETERS = [
    {"name": "product", "type": "string", "required": False, "default": "Acme Cloud"},
    {"name": "tier", "type": "enum", "values": ["free", "pro"], "required": False, "default": "free"},
    {"name": "question", "type": "string", "description": "the customer's new message"},
]

# Test cases (docs/prompt-tests.md): run on every version, by the locking gate and by `anvil-client test`.
WELCOME_TESTS = [
    {"name": "greets by name", "variables": {"name": "Ada"}, "assert": [{"type": "contains", "value": "Ada"}]},
    {"name": "mentions the trial", "variables": {"name": "Ada", "trial": True},
     "assert": [{"type": "contains", "value": "trial lasts 14 days"}, {"type": "max-tokens", "value": 80}]},
    {"name": "a name is required", "variables": {}, "assert": [{"type": "error", "value": "name"}]},
]
SYSTEM_TESTS = [
    {"name": "names the product", "variables": {"product": "Acme Cloud"},
     "assert": [{"type": "starts-with", "value": "You are Anvil"}, {"type": "contains", "value": "Acme Cloud"}]},
    {"name": "answers in the asked language", "variables": {"product": "Acme Cloud", "language": "French"},
     "assert": [{"type": "snapshot"}]},
]
SUMMARISE_TESTS = [
    {"name": "short", "variables": {"ticket": "My invoice is wrong."},
     "assert": [{"type": "max-tokens", "value": 60}, {"type": "not-contains", "value": "{{"}]},
]
REPLY_TESTS = [
    {"name": "the question comes last", "variables": {"question": "Where is my invoice?", "history": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]},
     "assert": [{"type": "equals", "target": -1, "value": "Where is my invoice?"},
                {"type": "equals", "target": 1, "value": "Hi"}]},
    {"name": "pro customers get detail", "variables": {"question": "Why?", "tier": "pro", "history": []},
     "assert": [{"type": "contains", "target": "system", "value": "Pro customer"},
                {"type": "icontains", "target": "system", "value": "never promise refunds"}]},
]


def anvil_command() -> str:
    """How to run ``anvil`` from where the demo was loaded: ``anvil`` when that is on the PATH, else the path
    of the script that ran (``.venv/bin/anvil`` from the checkout, as ``make run`` does)."""
    script = Path(sys.argv[0])
    on_path = shutil.which("anvil")
    if script.name != "anvil" or (on_path and Path(on_path).resolve() == script.resolve()):
        return "anvil"
    relative = os.path.relpath(script)
    return shlex.quote(relative if not relative.startswith("..") else str(script.resolve()))


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins."

    def handle(self, **options):
        passwords = self._logins()
        if org_queries.organisation_by_ref("acme") is not None:
            self.stdout.write("Demo data already present; nothing changed.")
        else:
            self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded: acme/support with prompt sets 'emails' (LOCKED), "
                                                 "'chat', and 'support' + 'common' (LOCKED, published)."))
        self.stdout.write("")
        self.stdout.write("  Admin login:  " + ADMIN_EMAIL + "  /  " + passwords[ADMIN_EMAIL])
        self.stdout.write("  Member login: " + MEMBER_EMAIL + "  /  " + passwords[MEMBER_EMAIL])
        self.stdout.write("  Second admin: " + OPS_EMAIL + "  /  " + passwords[OPS_EMAIL] + "  (approves publish "
                          "requests)")
        anvil = anvil_command()
        self.stdout.write(f"  Try: {anvil} render acme/support/emails@stable/welcome -v name=Ada")
        self.stdout.write(f"       {anvil} render acme/support/support/reply -v question='Where is my invoice?'"
                          " -v history:='[]'")

    def _logins(self) -> dict:
        """Create the demo users once; their passwords are kept in the data directory."""
        path = settings.DATA_DIR / "demo-logins.txt"
        known = dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line) if path.exists() else {}
        for email, admin in ((ADMIN_EMAIL, True), (MEMBER_EMAIL, False), (OPS_EMAIL, False)):
            if account_queries.user_by_email(email) is None:
                known[email] = secrets.token_urlsafe(12)
                create_user(email, known[email], display_name=email.split("@")[0].title(), site_admin=admin,
                            email_verified=True)
            known.setdefault(email, "(unchanged: set before this data directory's record)")
        path.write_text("".join(f"{e} {p}\n" for e, p in known.items()))
        path.chmod(0o600)
        return known

    @transaction.atomic
    def _load(self):
        admin = account_queries.user_by_email(ADMIN_EMAIL)
        member = account_queries.user_by_email(MEMBER_EMAIL)
        acme = create_organisation(admin, "Acme", "acme", "Demo organisation")
        invite_member(admin, acme, member.email, "member")
        invite_member(admin, acme, OPS_EMAIL, "admin")  # (a confirmed address: joins at once)
        project = prompts.create_project(admin, acme, "Support", "support", "Prompts of the support application")

        emails = prompts.create_prompt_set(admin, project, "Emails", "emails", "Transactional e-mails",
                                           {"model": "gpt-4o-mini", "temperature": 0.4})
        for name, slug, template, params in EMAILS[:2]:
            prompts.create_prompt(admin, emails, name, slug, template, params,
                                  tests=WELCOME_TESTS if slug == "welcome" else None)
        prompts.create_version(admin, emails, "1.0.0", "First release: welcome and password reset")
        welcome = emails.prompts.get(slug="welcome")
        prompts.update_prompt(admin, welcome, template=welcome.template.replace("warm", "warm, short"))
        shorter = prompts.create_version(admin, emails, "1.1.0", "Shorter welcome")
        name, slug, template, params = EMAILS[2]
        churn = prompts.create_prompt(admin, emails, name, slug, template, params)
        prompts.add_missing_parameters(admin, churn)  # declares `reasons`
        prompts.create_version(admin, emails, "1.2.0-beta.1", "Churn save prompt (beta)")
        prompts.create_version(member, emails, "1.2.0", "Churn save prompt")
        prompts.change_status(member, emails, "review")
        prompts.change_status(admin, emails, "locked")  # approves 1.2.0's content (the working copy)
        prompts.approve_version(admin, shorter)  # 1.1.0 may be published too (a fallback); 1.0.0 may not

        chat = prompts.create_prompt_set(member, project, "Chat", "chat", "The support chat assistant",
                                         {"model": "gpt-4o"})
        for name, slug, template, params in CHAT:
            prompts.create_prompt(member, chat, name, slug, template, params,
                                  tests=SYSTEM_TESTS if slug == "system" else SUMMARISE_TESTS)
        system = chat.prompts.get(slug="system")
        prompts.update_test_snapshots(member, system)  # records what the snapshot test compares with
        prompts.create_version(member, chat, "0.1.0", "First draft")
        prompts.update_prompt(member, system, template=system.template + "\nNever promise refunds.")
        prompts.update_test_snapshots(member, system)
        prompts.create_version(member, chat, "0.2.0", "No refund promises")
        self._load_composed(admin, member, project)

    def _load_composed(self, admin, member, project):
        """A chat prompt with a model configuration, rendering a partial of another set (docs/templates.md)."""
        from anvil_forge.distribution import services as distribution

        common = prompts.create_prompt_set(admin, project, "Common", "common", "Pieces shared by many prompts")
        name, slug, template, params = TONE
        prompts.create_prompt(admin, common, name, slug, template, params, tests=[
            {"name": "pro customers get detail", "variables": {"tier": "pro"},
             "assert": [{"type": "contains", "value": "go into detail"}]},
            {"name": "free customers do not", "variables": {"tier": "free"},
             "assert": [{"type": "not-contains", "value": "detail"}]}])
        prompts.create_version(admin, common, "1.0.0", "Shared tone of voice")
        support = prompts.create_prompt_set(admin, project, "Support", "support", "The support chat",
                                            config={"model": "gpt-4o-mini"},
                                            dependencies={"common": "^1.0"})
        prompts.create_prompt(admin, support, "Reply", "reply", kind="chat", messages=REPLY_MESSAGES,
                              parameters=REPLY_PARAMETERS, config={"max_tokens": 400}, tests=REPLY_TESTS,
                              description="Answers the customer's newest message, given the conversation so far")
        prompts.create_version(admin, support, "1.0.0", "First chat reply (locks common 1.0.0)")
        for prompt_set in (common, support):
            prompts.change_status(member, prompt_set, "review")
            prompts.change_status(admin, prompt_set, "locked")
            distribution.publish(admin, prompt_set)
