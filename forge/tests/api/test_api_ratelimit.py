"""Rate limiting: 429 past the limit, the X-RateLimit-* headers on every API response, one count per
API key / signed-in user / client address, and counters shared between processes through Redis."""

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
from django.core.cache.backends.redis import RedisCache
from django.test import Client, RequestFactory
from limits import parse
from limits.strategies import FixedWindowRateLimiter

from anvil_forge.api.ratelimit import DjangoCacheStorage

from ..api_support import Api, assert_error, fresh_rate_limits, key_for  # noqa: F401

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def test_past_the_limit_requests_get_429_with_the_headers(world, settings):
    settings.ANVIL_API_RATE_LIMIT = "3/minute"
    api = Api(key_for(world.member))
    remaining = []
    for _ in range(3):
        response = api.get("/organisations")
        assert response.status_code == 200
        remaining.append(int(response["X-RateLimit-Remaining"]))
        assert response["X-RateLimit-Limit"] == "3"
    assert remaining == [2, 1, 0]
    limited = api.get("/organisations")
    error = assert_error(limited, 429, "rate_limit_error")
    assert "3 per window" in error["message"]
    assert limited["X-RateLimit-Remaining"] == "0"
    reset = int(limited["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert_error(api.post("/organisations", {"name": "X"}), 429, "rate_limit_error")  # writes are not run


def test_every_api_response_carries_the_headers(world, settings):
    api = Api(key_for(world.member))
    responses = [
        api.get("/organisations"), api.get(f"/prompts/{world.prompt.pk}"),
        api.get(f"/prompts/{world.prompt.pk}", **{"If-None-Match": api.get(f"/prompts/{world.prompt.pk}")["ETag"]}),
        api.get("/no/such/route"), api.delete("/organisations"), api.post("/projects", "{"),
        api.get(f"/prompts/{world.outsider.pk}"), Api().get("/organisations"), Api("ank_bad").get("/organisations"),
        Api().get("/openapi.json"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 304, 404, 405, 400, 404, 401, 401, 200]
    for response in responses:
        assert all(header in response for header in HEADERS), response.status_code


def test_each_key_user_and_address_has_its_own_count(world, settings):
    settings.ANVIL_API_RATE_LIMIT = "2/minute"
    first, second = Api(key_for(world.member)), Api(key_for(world.member))
    for api in (first, second):
        assert [api.get("/organisations").status_code for _ in range(3)] == [200, 200, 429]
    browser = Client()
    browser.force_login(world.admin)
    session = Api(client=browser)
    assert [session.get("/organisations").status_code for _ in range(3)] == [200, 200, 429]
    anonymous = Api(client=Client(REMOTE_ADDR="10.0.0.1"))
    assert [anonymous.get("/organisations").status_code for _ in range(3)] == [401, 401, 429]
    other_address = Client(REMOTE_ADDR="10.0.0.2").get("/api/v1/organisations")
    assert other_address.status_code == 401
    # a key that does not exist is counted by the address, not given a fresh count per guess
    guesses = [Api(f"ank_guess{n}", client=Client(REMOTE_ADDR="10.0.0.3")).get("/organisations") for n in range(3)]
    assert [r.status_code for r in guesses] == [401, 401, 429]


@pytest.mark.usefixtures("own_data_dir")
def test_live_clients_are_counted_per_instance_not_per_shared_address(world, settings):
    """Many instances of an application behind one NAT share an address, not a count — once registered."""
    from anvil_forge.api.ratelimit import reset_local
    from anvil_forge.distribution.services import create_access_token

    _, token = create_access_token(world.admin, world.project, "prod")
    nat = Client(REMOTE_ADDR="10.0.0.9")
    for instance in ("pod-a", "pod-b"):
        registered = Api(token, client=nat).post(f"/projects/{world.project.pk}/live_instances",
                                                 {"instance_id": instance, "mode": "accepting"})
        assert registered.status_code == 200
    reset_local()
    settings.ANVIL_API_RATE_LIMIT = "2/minute"
    path = f"/projects/{world.project.pk}/current_bundle"
    for instance in ("pod-a", "pod-b"):
        api = Api(token, client=nat, **{"X-Anvil-Instance": instance})
        assert [api.get(path).status_code for _ in range(3)] == [200, 200, 429]
    # Without the header, the address counts (the NAT's count is still fresh: the pods did not use it).
    assert [Api(token, client=nat).get(path).status_code for _ in range(3)] == [200, 200, 429]
    # A bad token is counted by its address whatever instance it claims to be.
    guesses = [Api("ant_nope", client=Client(REMOTE_ADDR="10.0.0.8"), **{"X-Anvil-Instance": f"p{n}"}).get(path)
               for n in range(3)]
    assert [r.status_code for r in guesses] == [401, 401, 429]


@pytest.mark.usefixtures("own_data_dir")
def test_made_up_instance_ids_share_their_address_count_and_evict_nobody(world, settings):
    """A token holder naming 400 instances it never registered gets one count (token + address), not 400;
    and the flood resets no one else's count."""
    from anvil_forge.distribution.services import create_access_token

    settings.ANVIL_API_RATE_LIMIT = "5/minute"
    victim = Api(key_for(world.member))
    assert [victim.get("/organisations").status_code for _ in range(6)] == [200] * 5 + [429]
    _, token = create_access_token(world.admin, world.project, "attacker's own")
    path = f"/projects/{world.project.pk}/current_bundle"
    flood = [Api(token, **{"X-Anvil-Instance": f"i-{n}"}).get(path).status_code for n in range(400)]
    assert flood == [200] * 5 + [429] * 395
    assert victim.get("/organisations").status_code == 429  # still counted: nothing was evicted


@pytest.mark.parametrize("address, counted_as", [
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"), ("192.0.2.7", "192.0.2.7")])
def test_an_ipv6_client_is_counted_by_its_64(world, settings, address, counted_as):
    """One subscriber holds a whole IPv6 /64: its addresses share one count."""
    from anvil_forge.api.ratelimit import identity

    assert identity(RequestFactory(REMOTE_ADDR=address).get("/api/v1/organisations")) == f"ip:{counted_as}"


def test_pages_outside_the_api_are_not_counted(world, settings):
    settings.ANVIL_API_RATE_LIMIT = "1/minute"
    client = Client()
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200 and "X-RateLimit-Limit" not in response


def test_a_redis_outage_lets_requests_through(world, settings):
    """With REDIS_URL pointing at a Redis that is not there, the API works, unlimited (fail open)."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": settings.REDIS_URL, "OPTIONS": {"socket_connect_timeout": 0.2}}}
    response = Api(key_for(world.member)).get("/organisations")
    assert response.status_code == 200 and response["X-RateLimit-Limit"] == "100000"


# --- Redis: several processes share one count -----------------------------------------------------

REDIS_URL = os.environ.get("ANVIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_server():
    """These tests need the Redis server CI and development machines run at 127.0.0.1:6379; without it they
    fail (saying so) rather than pass unseen."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.fail("no Redis server on 127.0.0.1:6379 (start one: redis-server --daemonize yes)")


def test_two_processes_share_the_count_through_redis(redis_server):
    # two separate cache clients (as two server processes would have), one Redis
    prefix = f"anvil-test-{uuid.uuid4().hex}"
    caches = [RedisCache(REDIS_URL, {"KEY_PREFIX": prefix}) for _ in range(2)]
    limiters = [FixedWindowRateLimiter(DjangoCacheStorage(cache=cache)) for cache in caches]
    limit = parse("5/minute")
    results = [limiters[n % 2].hit(limit, "anvil-api", "key:shared") for n in range(7)]
    assert results == [True] * 5 + [False] * 2
    stats = limiters[1].get_window_stats(limit, "anvil-api", "key:shared")
    assert stats.remaining == 0 and time.time() < stats.reset_time <= time.time() + 61
    assert limiters[0].hit(limit, "anvil-api", "key:other")  # another identity has its own count
    client = caches[0]._cache.get_client(write=True)
    ttl = client.ttl(caches[0].make_key(parse("5/minute").key_for("anvil-api", "key:shared")))
    assert 0 < ttl <= 60  # the counter expires by itself
    for cache in caches:
        cache.clear()


def test_redis_url_switches_the_cache_to_redis(redis_server, tmp_path):
    code = ("import django; django.setup(); from django.core.cache import cache; from django.conf import settings; "
            "cache.set('probe', 1); print(settings.CACHES['default']['BACKEND'], cache.get('probe'))")
    env = {**os.environ, "REDIS_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "anvil_forge.settings",
           "ANVIL_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "1"]
    env.pop("REDIS_URL")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["django.core.cache.backends.locmem.LocMemCache", "1"]
