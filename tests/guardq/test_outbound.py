"""The SSRF guard of callbacks and alerts: which addresses a URL may reach, and the
pinned POST that connects to the address it checked."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from guardq.outbound import Allowed, ForbiddenDestination, UnresolvedHost, check_url, post

NOTHING = Allowed()


def resolver(table: dict[str, list[str]]):
    """A test resolver: host names to addresses, nothing else resolves."""

    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host}: unknown")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://127.9.9.9/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://172.31.255.254/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://[fc00::1]/hook", "unique-local"),
        ("http://[fd12:3456::1]/hook", "unique-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[::ffff:169.254.169.254]/hook", "link-local (IPv4 169.254.169.254 inside IPv6)"),
        ("http://[64:ff9b::a00:1]/hook", "private (IPv4 10.0.0.1 inside IPv6)"),
        ("http://100.64.0.1/hook", "shared (carrier-grade NAT)"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
    ],
)
def test_a_url_to_a_non_public_address_is_refused_naming_the_kind(url, kind):
    with pytest.raises(ForbiddenDestination, match=re.escape(f"a {kind} address")) as refused:
        check_url(url, NOTHING)
    assert "GUARDQ_CALLBACK_ALLOW" in str(refused.value)
    assert "/hook" not in str(refused.value) and "meta-data" not in str(refused.value)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.7", "172.20.1.1", "192.168.0.9", "169.254.169.254", "::1"]
)
def test_a_host_name_resolving_to_a_non_public_address_is_refused(address):
    resolve = resolver({"hooks.example.com": ["93.184.215.14", address]})
    with pytest.raises(ForbiddenDestination, match=rf"'hooks.example.com' resolves to {address}"):
        check_url("https://hooks.example.com/x", NOTHING, resolve)


def test_a_host_name_resolving_to_public_addresses_passes_with_every_address():
    resolve = resolver({"hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    destination = check_url("https://hooks.example.com:8443/x?y=1", NOTHING, resolve)
    assert destination.addresses == ("93.184.215.14", "2606:2800:21f:cb07::1")
    url, headers, extensions = destination.pinned("2606:2800:21f:cb07::1")
    assert url == "https://[2606:2800:21f:cb07::1]:8443/x?y=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


def test_credentials_in_the_url_stay_with_the_pinned_address():
    resolve = resolver({"hooks.example.com": ["93.184.215.14"]})
    destination = check_url("https://u:p%40ss@hooks.example.com/x", NOTHING, resolve)
    assert destination.pinned("93.184.215.14")[0] == "https://u:p%40ss@93.184.215.14/x"


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(UnresolvedHost, match="'nowhere.invalid' does not resolve"):
        check_url("http://nowhere.invalid/x", NOTHING, resolver({}))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///x", "http://[::1/x", "/relative"])
def test_a_url_that_is_not_absolute_http_is_refused(url):
    with pytest.raises(ForbiddenDestination):
        check_url(url, NOTHING)


def test_the_operator_allows_networks_hosts_and_domains():
    allowed = Allowed.from_entries(["10.1.0.0/16", "fd00::1", "hooks.internal", ".corp"])
    resolve = resolver({"hooks.internal": ["10.9.9.9"], "a.b.corp": ["192.168.5.5"]})
    assert check_url("http://10.1.200.3/x", allowed).addresses == ("10.1.200.3",)
    assert check_url("http://[fd00::1]/x", allowed).addresses == ("fd00::1",)
    assert check_url("http://hooks.internal/x", allowed, resolve).addresses == ("10.9.9.9",)
    assert check_url("http://a.b.corp/x", allowed, resolve).addresses == ("192.168.5.5",)
    with pytest.raises(ForbiddenDestination, match="10.2.0.1, a private"):
        check_url("http://10.2.0.1/x", allowed)
    # A name outside the allowed domain gets no pass from the domain entry.
    with pytest.raises(ForbiddenDestination, match="resolves to 192.168.5.5"):
        check_url("http://evilcorp/x", allowed, resolver({"evilcorp": ["192.168.5.5"]}))


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/33", "..", "a..b"])
def test_a_bad_allow_entry_is_refused_naming_it(entry):
    with pytest.raises(ValueError, match="neither a network"):
        Allowed.from_entries([entry])


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.path, self.headers["Host"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.seen = []
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_an_allowed_url_is_delivered_to_the_checked_address_with_its_host(receiver):
    # hooks.test exists only in the test resolver: the request reaches the server only
    # if it connects to the address that was checked, not to a second lookup.
    resolve = resolver({"hooks.test": ["127.0.0.1"]})
    allowed = Allowed.from_entries(["127.0.0.1"])
    response = post(
        f"http://hooks.test:{receiver}/hook?x=1",
        b'{"a":1}',
        headers={"Content-Type": "application/json"},
        allowed=allowed,
        timeout=5,
        resolver=resolve,
    )
    assert response.status_code == 204
    assert _Receiver.seen == [("/hook?x=1", f"hooks.test:{receiver}", b'{"a":1}')]


def test_nothing_is_sent_to_a_forbidden_address(receiver):
    with pytest.raises(ForbiddenDestination, match="loopback"):
        post(f"http://127.0.0.1:{receiver}/hook", b"{}", headers={}, allowed=NOTHING, timeout=5)
    assert _Receiver.seen == []
