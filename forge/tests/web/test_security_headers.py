"""Every page has a Content-Security-Policy that runs only the FORGE's own scripts (an inline script only with
the request's nonce); HSTS is sent when the FORGE is served over HTTPS."""

import os
import re
import subprocess
import sys

import pytest

PAGES = ["/login", "/", "/help", "/o/acme/", "/o/acme/p/support/", "/o/acme/p/support/s/emails/",
         "/o/acme/p/support/s/emails/v/1.0.0/", "/o/acme/p/support/s/emails/prompts/welcome/",
         "/o/acme/p/support/s/emails/compare?from=1.0.0&to=working", "/api/v1/docs", "/api/v1/organisations",
         "/healthz"]


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_only_its_own_scripts(client, world, path):
    if path != "/login":
        client.force_login(world.owner)
    response = client.get(path)
    assert response.status_code == 200, path
    policy = _policy(response)
    scripts = policy["script-src"]
    assert "'self'" in scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"] and "*" not in " ".join(sum(policy.values(), []))
    nonces = {s.removeprefix("'nonce-").rstrip("'") for s in scripts if s.startswith("'nonce-")}
    body = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", body):
        if "src=" in tag or 'type="application/json"' in tag:
            continue
        nonce = re.search(r'nonce="([^"]+)"', tag)
        assert nonce and nonce.group(1) in nonces, (path, tag)  # an inline script without the nonce would not run
    assert not re.search(r"<[^>]+\son[a-z]+=", body), path  # no inline event handlers: they cannot carry a nonce


def _setting(name: str, **env) -> str:
    code = f"import anvil_forge.settings as s; print(s.{name})"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                            capture_output=True, text=True)
    return result.stdout.strip()


def test_hsts_is_on_for_an_https_forge_and_off_for_http(tmp_path):
    assert _setting("SECURE_HSTS_SECONDS", ANVIL_BASE_URL="https://forge.example.com",
                    ANVIL_DATA_DIR=str(tmp_path)) == "31536000"
    assert _setting("SECURE_HSTS_SECONDS", ANVIL_BASE_URL="http://127.0.0.1:8000", ANVIL_DATA_DIR=str(tmp_path)) == "0"
    assert _setting("SECURE_HSTS_SECONDS", ANVIL_BASE_URL="https://forge.example.com", ANVIL_HSTS_SECONDS="0",
                    ANVIL_DATA_DIR=str(tmp_path)) == "0"


def test_hsts_is_sent_on_secure_requests(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    assert client.get("/login", secure=True).headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login").headers  # plain HTTP: meaningless
