import pytest
from django.contrib.auth import authenticate

from anvil_forge.accounts.models import User
from anvil_forge.orgs.services import create_user
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, ValidationError
from anvil_forge.orgs.models import Membership, Role

from ..conftest import GOOD_PASSWORD


def test_passwords_are_hashed_with_argon2(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = create_user("ada@example.com", GOOD_PASSWORD)
    assert user.password.startswith("argon2$argon2id$")
    assert authenticate(email="ADA@example.com", password=GOOD_PASSWORD) == user


def test_signup_creates_personal_organisation_owned_by_the_user(make_user):
    user = make_user("Grace@Example.com", display_name="Grace Hopper")
    assert user.email == "grace@example.com"
    org = user.personal_organisation
    assert org.personal and org.name == "Grace Hopper"
    assert Membership.objects.get(user=user, organisation=org).role == Role.OWNER
    assert AuditEvent.objects.filter(action="user.signup", actor=user).exists()


def test_personal_organisation_names_never_clash(make_user):
    a = make_user("sam@one.example")
    b = make_user("sam@two.example")
    assert a.personal_organisation.name == "sam"
    assert b.personal_organisation.name == "sam (2)"
    assert a.personal_organisation.slug != b.personal_organisation.slug


def test_email_is_unique_case_insensitively(make_user):
    make_user("dup@example.com")
    with pytest.raises(Conflict, match="already exists"):
        make_user("DUP@example.com")
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["short", "123456789012345", "password1234"])
def test_weak_passwords_are_refused_and_nothing_is_stored(db, password):
    with pytest.raises(ValidationError) as exc:
        create_user("weak@example.com", password)
    assert exc.value.details[0]["field"] == "password"
    assert not User.objects.exists()


def test_bad_email_is_refused(db):
    with pytest.raises(ValidationError, match="not a valid e-mail"):
        create_user("not-an-email", GOOD_PASSWORD)


def test_magic_link_only_account_has_no_usable_password(db):
    user = create_user("link@example.com", None)
    assert not user.has_usable_password()
