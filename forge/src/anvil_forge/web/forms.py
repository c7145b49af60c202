"""Forms of the web UI. They only parse and present; the services validate and decide."""

from __future__ import annotations

from django import forms

from anvil_forge.core.errors import ValidationError
from anvil_forge.orgs.policy import Role

SLUG_HELP = "a-z, 0-9, - and _; empty: made from the name."


class Form(forms.Form):
    """Labels without Django's trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignupForm(Form):
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    display_name = forms.CharField(label="Your name", required=False, max_length=150,
                                   widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password = forms.CharField(
        label="Password", required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters. Leave empty to sign in with e-mailed links only.",
    )
    password2 = forms.CharField(label="Password again", required=False, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password", "") != data.get("password2", ""):
            self.add_error("password2", "The two passwords differ.")
        return data


class LoginForm(Form):
    email = forms.EmailField(label="E-mail address",
                             widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label="Password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class EmailForm(Form):
    email = forms.EmailField(label="E-mail address",
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))


class ProfileForm(Form):
    display_name = forms.CharField(label="Display name", required=False, max_length=150)


class PasswordForm(Form):
    current_password = forms.CharField(label="Current password", strip=False, required=False,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    password = forms.CharField(label="New password", strip=False, help_text="At least 12 characters.",
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="New password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    revoke_api_keys = forms.BooleanField(label="Also revoke my API keys", required=False)

    def __init__(self, *args, user=None, api_keys: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user is None or not user.has_usable_password():
            del self.fields["current_password"]
        if api_keys:  # offered when there is something to revoke: a changed password may mean a leaked one
            self.fields["revoke_api_keys"].label = f"Also revoke my {api_keys} API key{'s' if api_keys > 1 else ''}"
            self.fields["revoke_api_keys"].help_text = "Scripts using them stop working until given a new key."
        else:
            del self.fields["revoke_api_keys"]

    def clean(self):
        data = super().clean()
        if "current_password" in self.fields and not self.user.check_password(data.get("current_password") or ""):
            self.add_error("current_password", "This is not your current password.")
        if data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class OrganisationForm(Form):
    name = forms.CharField(label="Name", max_length=100)
    slug = forms.CharField(label="Slug", required=False, max_length=64, help_text=SLUG_HELP,
                           widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}))
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3}))


class InviteForm(Form):
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)


class RoleForm(Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class ProjectForm(OrganisationForm):
    pass


class ProjectSettingsForm(ProjectForm):
    """Editing a project: its name, and the gate its prompt sets' tests make (docs/prompt-tests.md)."""

    tests_gate = forms.BooleanField(
        label="Test gate: lock a prompt set only while all its tests pass", required=False,
        help_text="Approving a set in review (REVIEW → LOCKED) is refused, naming the failing tests, while any "
                  "test of its prompts fails. Owners and admins turn it off and on.")


class PromptSetForm(OrganisationForm):
    metadata = forms.JSONField(
        label="Metadata (JSON object)", required=False, initial=dict,
        help_text='Notes kept with the set, e.g. {"owner": "support team"}; the model settings have their own '
                  "fields below.",
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
    )


class PromptForm(Form):
    name = forms.CharField(label="Name", max_length=100)
    slug = forms.CharField(label="Slug", required=False, max_length=64, help_text=SLUG_HELP,
                           widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}))
    description = forms.CharField(label="Description", required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    template = forms.CharField(
        label="Template", required=False, strip=False,
        help_text="Liquid: {{ variable }}, {% if %}, {% for %}, filters such as {{ text | truncate_tokens: 200 }}.",
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono editor", "spellcheck": "false",
                                     "autocapitalize": "off", "autocomplete": "off"}),
    )
    metadata = forms.JSONField(
        label="Metadata (JSON object)", required=False, initial=dict,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"}),
    )
    parameters = forms.Field(required=False, widget=forms.HiddenInput)  # errors about parameters land here
    # "text" or "chat", chosen when the prompt is created (radio buttons in the template); the service refuses
    # anything else, next to this field
    kind = forms.CharField(required=False, widget=forms.HiddenInput)


class VersionForm(Form):
    label = forms.CharField(label="Version label", max_length=128,
                            help_text="Semantic version, higher than every existing one, e.g. 1.4.0 or 2.0.0-rc.1.",
                            widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false",
                                                          "list": "label-suggestions"}))
    changelog = forms.CharField(label="Changelog", required=False, widget=forms.Textarea(attrs={"rows": 3}))


class RollbackForm(Form):
    to = forms.CharField(widget=forms.HiddenInput)
    label = forms.CharField(label="New version label", max_length=128,
                            widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}))
    changelog = forms.CharField(label="Changelog", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ConfirmForm(Form):
    """Deleting something big: type its slug to confirm."""

    confirm = forms.CharField(label="Type the slug to confirm",
                              widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off",
                                                            "spellcheck": "false"}))

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.fields["confirm"].label = f"Type {expected} to confirm"

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise forms.ValidationError(f"Type exactly {self.expected} to confirm.")
        return value


def parse_labels(text: str) -> dict[str, str]:
    """``region=eu, tier=gold`` as a dict; the distribution services check the names and values."""
    labels: dict[str, str] = {}
    for item in (text or "").replace("\n", ",").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError.field("labels", f"labels are name=value pairs separated by commas "
                                                  f"(e.g. region=eu, tier=gold), not {item.strip()!r}")
        labels[key.strip()] = value.strip()
    return labels


def parse_percentage(text: str, field: str = "percentage") -> int | None:
    """A whole percentage, or None when left empty (the services check its range)."""
    text = (text or "").strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError.field(field, f"the percentage must be a whole number from 0 to 100, not {text!r}") \
            from None


def parse_rollout(data) -> dict | None:
    """The publish and promote forms' "Roll out to" fields as the services' rollout (None: to everyone)."""
    percentage = parse_percentage(data.get("percentage", ""))
    labels = parse_labels(data.get("labels", ""))
    ids = sorted({i for i in (data.get("instance_ids", "") or "").replace(",", " ").split() if i})
    if percentage is None and not labels and not ids:
        return None
    rollout: dict = {"labels": labels, "instance_ids": ids}
    if percentage is not None:
        rollout["percentage"] = percentage
    return rollout
