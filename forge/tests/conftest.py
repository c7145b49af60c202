from types import SimpleNamespace

import pytest

from anvil_forge.orgs.services import create_user
from anvil_forge.orgs.models import Membership, Role
from anvil_forge.orgs.services import create_organisation
from anvil_forge.prompts import services as prompts

GOOD_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Argon2 is the real hasher (see test_accounts); tests elsewhere don't need its cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


LOOPBACK = "127.0.0.0/8,::1/128"  # the test receivers listen on 127.0.0.1 (the default allows none)


@pytest.fixture(autouse=True)
def receivers_on_loopback(settings):
    """Receivers on loopback are allowed, as `make run` allows them; tests of the default say so."""
    from anvil_forge.core.network import parse_networks

    settings.ANVIL_RECEIVER_ALLOWED_NETWORKS = parse_networks(LOOPBACK)


@pytest.fixture
def fake_dns(monkeypatch):
    """Host names resolve as the test says (``fake_dns["app.example"] = "93.184.215.14"``; a list for several
    addresses); other names as usual."""
    from anvil_forge.distribution import destinations

    names: dict = {}
    real = destinations.getaddrinfo

    def getaddrinfo(host, port):
        if host not in names:
            return real(host, port)
        addresses = names[host] if isinstance(names[host], list) else [names[host]]
        return [(None, None, None, "", (a, port)) for a in addresses]

    monkeypatch.setattr(destinations, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture(autouse=True)
def fresh_api_counts():
    """The API's per-process rate-limit counts start at zero in every test (sign-in counters are rows)."""
    from anvil_forge.api.ratelimit import reset_local

    reset_local()


@pytest.fixture
def make_user(db):
    def make(email, **kw):
        kw.setdefault("email_verified", True)  # established users; tests of unconfirmed addresses say so
        return create_user(email, GOOD_PASSWORD, **kw)
    return make


@pytest.fixture
def world(make_user):
    """An organisation with one user per role, an outsider, a project, a LIVE set with one prompt and a version."""
    owner = make_user("owner@example.com", display_name="Olive Owner")
    admin = make_user("admin@example.com")
    member = make_user("member@example.com")
    other = make_user("other-member@example.com")
    outsider = make_user("outsider@example.com")
    site_admin = make_user("root@example.com", site_admin=True)
    org = create_organisation(owner, "Acme", "acme")
    for user, role in ((admin, Role.ADMIN), (member, Role.MEMBER), (other, Role.MEMBER)):
        Membership.objects.create(user=user, organisation=org, role=role)
    project = prompts.create_project(owner, org, "Support", "support")
    pset = prompts.create_prompt_set(owner, project, "Emails", "emails", metadata={"model": "m1"})
    prompt = prompts.create_prompt(
        owner, pset, "Welcome", "welcome", "Hello {{ name }}!",
        [{"name": "name", "type": "string"}],
    )
    version = prompts.create_version(owner, pset, "1.0.0", "first")
    return SimpleNamespace(
        owner=owner, admin=admin, member=member, other=other, outsider=outsider, site_admin=site_admin,
        org=org, project=project, pset=pset, prompt=prompt, version=version,
        users={"owner": owner, "admin": admin, "member": member, "outsider": outsider, "site_admin": site_admin},
    )


def refresh(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def own_data_dir(settings, tmp_path):
    """A fresh data directory for the test: its own FORGE signing key, mail files and the like."""
    from anvil_forge.distribution import keys

    settings.DATA_DIR = tmp_path
    keys._load.cache_clear()
    return tmp_path


@pytest.fixture
def mailbox(settings):
    """E-mails kept in ``django.core.mail.outbox`` (throttle counters are rows: each test starts at zero)."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def link_in(message) -> str:
    """The first link in an e-mail, as a path on the test server."""
    import re

    return "/" + re.search(r"https?://\S+", message.body).group(0).split("/", 3)[3]


@pytest.fixture
def locked(world):
    """The world with its prompt set reviewed and LOCKED (ready to publish)."""
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    return world
