"""Receiver URLs are safe by default: the FORGE registers and pushes to public addresses only, unless the
operator allows a network (ANVIL_RECEIVER_ALLOWED_NETWORKS); every push checks the address again."""

import ipaddress
import os
import subprocess
import sys
import threading

import pytest

from anvil_client.client import Client
from anvil_client.receiver import make_server
from anvil_forge.core.network import not_public, parse_networks, refusal
from anvil_forge.distribution import fanout
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.models import Delivery, LiveInstance
from anvil_forge.distribution.services import create_access_token, publish

from ..api_support import Api, assert_error, fresh_rate_limits  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_data_dir")
SECRET = "s3cr3t-" + "x" * 36
PUBLIC = "93.184.215.14"


@pytest.fixture
def register(locked):
    _, token = create_access_token(locked.admin, locked.project, "prod")

    def post(url, instance_id="i-1"):
        return Api(token).post(f"/projects/{locked.project.pk}/live_instances",
                               {"instance_id": instance_id, "mode": "accepting", "receiver_url": url,
                                "receiver_secret": SECRET})
    return post


@pytest.fixture
def default_networks(settings):
    settings.ANVIL_RECEIVER_ALLOWED_NETWORKS = ()  # the default: public addresses only


@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1:8765/anvil/receive", "loopback"), ("http://10.1.2.3/r", "private"),
    ("http://192.168.0.7:80/r", "private"), ("http://172.16.5.5/r", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"), ("http://[::1]:8765/r", "loopback"),
    ("http://[fe80::1]/r", "link-local"), ("http://[fd00:ec2::254]/r", "metadata"),
    ("http://[::ffff:10.0.0.1]/r", "private"), ("http://100.64.0.1/r", "not globally routable"),
    ("http://0.0.0.0/r", "unspecified"), ("http://224.0.0.1/r", "multicast"),
    ("http://localhost:8765/r", "loopback"), ("http://2130706433/r", "loopback"),  # 127.0.0.1 as a number
])
def test_registering_a_receiver_on_an_inside_address_is_refused_by_default(default_networks, register, url, kind):
    error = assert_error(register(url), 422, "validation_error")
    assert error["details"][0]["field"] == "receiver_url"
    assert kind in error["message"] and "ANVIL_RECEIVER_ALLOWED_NETWORKS" in error["message"]
    assert not LiveInstance.objects.exists()


def test_a_name_resolving_to_a_private_address_is_refused(default_networks, register, fake_dns):
    fake_dns["app.example"] = [PUBLIC, "10.0.0.5"]  # one inside address among public ones is enough
    error = assert_error(register("https://app.example/anvil/receive"), 422, "validation_error")
    assert "app.example resolves to 10.0.0.5" in error["message"] and "private" in error["message"]
    fake_dns["app.example"] = PUBLIC
    assert register("https://app.example/anvil/receive").status_code == 200


def test_a_name_that_does_not_resolve_is_refused(default_networks, register, fake_dns):
    fake_dns["nowhere.example"] = []
    error = assert_error(register("https://nowhere.example/r"), 422, "validation_error")
    assert error["details"][0]["field"] == "receiver_url" and "has no address" in error["message"]


def test_listed_networks_are_allowed(settings, register, fake_dns):
    settings.ANVIL_RECEIVER_ALLOWED_NETWORKS = parse_networks("10.0.0.0/8, fe80::/10")
    fake_dns["inside.corp"] = "10.9.8.7"
    for n, url in enumerate(["http://10.1.2.3/r", "http://[fe80::1]/r", "http://inside.corp:8080/r",
                             "http://[::ffff:10.0.0.1]/r"]):
        assert register(url, f"i-{n}").status_code == 200, url
    assert_error(register("http://192.168.0.7/r", "i-9"), 422, "validation_error")  # not listed


def test_metadata_addresses_need_to_be_listed_alone():
    wide = parse_networks("169.254.0.0/16,fc00::/7")
    assert refusal(ipaddress.ip_address("169.254.1.1"), wide) is None
    assert refusal(ipaddress.ip_address("169.254.169.254"), wide) == "a cloud metadata address"
    assert refusal(ipaddress.ip_address("fd00:ec2::254"), wide) == "a cloud metadata address"
    assert refusal(ipaddress.ip_address("169.254.169.254"), parse_networks("169.254.169.254/32")) is None
    assert not_public(ipaddress.ip_address("2002:a00:1::1")) == "a private address"  # 6to4 of 10.0.0.1
    assert not_public(ipaddress.ip_address("64:ff9b::7f00:1")) == "a loopback address"  # NAT64 of 127.0.0.1
    assert not_public(ipaddress.ip_address(PUBLIC)) is None
    assert not_public(ipaddress.ip_address("2606:2800:220:1::1")) is None


def test_a_heartbeat_repeating_its_url_is_not_resolved_again(settings, register, fake_dns):
    fake_dns["app.example"] = PUBLIC
    assert register("http://app.example/r").status_code == 200
    fake_dns["app.example"] = []  # DNS is down: the heartbeat goes on (the push checks again)
    assert register("http://app.example/r").status_code == 200
    assert_error(register("http://app.example/other"), 422, "validation_error")  # a new URL is checked


@pytest.fixture
def receiver(locked, tmp_path, fake_dns):
    """A real LIVE client whose receiver listens on loopback, registered under a host name."""
    _, token = create_access_token(locked.admin, locked.project, "prod")
    servers = []

    def start(name):
        client = Client(forge_url="http://127.0.0.1:9", project=str(locked.project.pk), access_token=token,
                        cache_dir=tmp_path / name, public_key=dist_queries.public_key(), background=False)
        server = make_server(client.receiver(), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        host = f"{name}.receivers.test"  # resolvable only through fake_dns: the push must use the pinned address
        fake_dns[host] = "127.0.0.1"
        client.receiver_url = f"http://{host}:{server.server_address[1]}/anvil/receive"
        assert Api(token).post(f"/projects/{locked.project.pk}/live_instances", client.describe()).status_code == 200
        return client

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_dns_change_after_registration_fails_that_delivery_only(locked, receiver, fake_dns):
    healthy, moved = receiver("a"), receiver("b")
    fake_dns["b.receivers.test"] = "10.1.2.3"  # its name now points inside the FORGE's network
    result = publish(locked.admin, locked.pset)
    assert fanout.send_publication(result.publication.pk) == 2
    states = {d.instance.instance_id: d for d in Delivery.objects.select_related("instance")}
    assert states[healthy.instance_id].state == "delivered" and healthy.sequence == 1
    refused = states[moved.instance_id]
    assert refused.state == "failed" and refused.attempts == 1 and moved.sequence is None
    assert "b.receivers.test resolves to 10.1.2.3" in refused.last_error and "private" in refused.last_error
    assert "ANVIL_RECEIVER_ALLOWED_NETWORKS" in refused.last_error


def test_a_name_that_stops_resolving_is_retried_later(locked, receiver, fake_dns):
    client = receiver("a")
    fake_dns["a.receivers.test"] = []
    result = publish(locked.admin, locked.pset)
    assert fanout.send_publication(result.publication.pk) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == "pending" and "could not resolve" in delivery.last_error and client.sequence is None


@pytest.mark.parametrize("value, problem", [("10.0.0.0/33", "'10.0.0.0/33'"), ("localhost", "'localhost'"),
                                            ("10.0.0.1/8", "'10.0.0.1/8'"), ("127.0.0.0/8,,x", "'x'")])
def test_wrong_settings_are_named(value, problem):
    with pytest.raises(ValueError, match="CIDR") as raised:
        parse_networks(value)
    assert problem in str(raised.value)


def test_parsing_the_setting():
    assert parse_networks("") == ()
    assert [str(n) for n in parse_networks(" 127.0.0.0/8 ,::1/128,")] == ["127.0.0.0/8", "::1/128"]


def test_a_wrong_setting_stops_the_forge_at_start(tmp_path):
    env = {**os.environ, "ANVIL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "anvil_forge.settings",
           "ANVIL_RECEIVER_ALLOWED_NETWORKS": "127.0.0.0/8,private"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "ImproperlyConfigured: ANVIL_RECEIVER_ALLOWED_NETWORKS: 'private' is not a network" in done.stderr
