"""Webhooks do not reach the portal's own network unless an administrator allows it
(apps/notifications/destinations.py): a URL whose host is, or resolves to, an address that is
not public is refused when saved and again when sent, and the send connects to the address
that was checked (a name re-pointed after the check changes nothing). The receiver is a real
HTTP server on 127.0.0.1 (tests/conftest.py); the made-up names below resolve through a
stand-in for DNS, since this machine has no resolver that knows them."""

import socket

import pytest

from apps.core.crypto import encrypt_json
from apps.notifications.destinations import Refused
from apps.notifications.webhooks import url_problem, webhook_send

ADVICE = "An administrator can allow it with ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK."
LOCAL = {
    "http://127.0.0.1/hooks": "127.0.0.1 is a loopback address",
    "http://localhost:8080/hooks": "localhost resolves to 127.0.0.1, a loopback address",
    "https://10.0.0.1/hooks": "10.0.0.1 is a private address",
    "http://172.16.5.4/": "172.16.5.4 is a private address",
    "http://192.168.1.1/": "192.168.1.1 is a private address",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "http://100.64.0.1/": "100.64.0.1 is a shared (carrier-grade NAT) address",
    "http://0.0.0.0:8000/": "0.0.0.0 is the unspecified address",
    "http://224.0.0.1/": "224.0.0.1 is a multicast address",
    "http://240.0.0.1/": "240.0.0.1 is a reserved address",
    "http://[::1]:8000/hooks": "::1 is a loopback address",
    "http://[::ffff:127.0.0.1]/hooks": "::ffff:127.0.0.1 is a loopback address",
    "http://[::ffff:a9fe:a9fe]/": "::ffff:a9fe:a9fe is a link-local address",  # 169.254.169.254
    "http://[fd00::1]/": "fd00::1 is a private address",
    "http://[fe80::1]/": "fe80::1 is a link-local address",
    "http://[ff02::1]/": "ff02::1 is a multicast address",
    "http://[64:ff9b::a00:1]/": "64:ff9b::a00:1 is a private address",  # NAT64 of 10.0.0.1
    "http://2130706433/": "2130706433 resolves to 127.0.0.1, a loopback address",  # 127.0.0.1 as one number
    "http://0x7f.1/": "0x7f.1 resolves to 127.0.0.1, a loopback address",
}


@pytest.fixture
def dns(monkeypatch):
    """A stand-in for DNS (a mock: this machine resolves no made-up names): ``names[name]`` is
    the list of answers the name gets, one per lookup; every other host resolves for real.
    ``asked`` counts the lookups of each made-up name."""
    real = socket.getaddrinfo
    names: dict[str, list[str]] = {}
    asked: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            return real(host, port, *args, **kwargs)
        asked[host] = asked.get(host, 0) + 1
        if not names[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(names[host].pop(0), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names, asked


@pytest.mark.parametrize("url", LOCAL)
def test_a_url_on_the_portals_own_network_is_refused_unless_allowed(url, settings):
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    assert url_problem(url) == f"Webhooks may not be sent to the portal's own network ({LOCAL[url]}). {ADVICE}"
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
    assert url_problem(url) == ""


def test_public_addresses_are_accepted_and_names_must_resolve(settings, dns):
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    # literal addresses: nothing is looked up, nothing is sent
    assert url_problem("https://93.184.215.14/atrium") == ""
    assert url_problem("http://[2606:4700::1111]:8443/atrium") == ""
    assert url_problem("http://[::ffff:93.184.215.14]/atrium") == ""
    assert url_problem("https://nowhere.invalid/atrium") == ("nowhere.invalid does not resolve to an address.")
    # a name is refused if any of its addresses is local
    names, _ = dns
    names["public.example"] = ["93.184.215.14"]
    assert url_problem("https://public.example/") == ""
    names["rebound.example"] = ["10.1.2.3"]
    assert "rebound.example resolves to 10.1.2.3, a private address" in url_problem("https://rebound.example/")
    assert url_problem("https://hooks.example.com:99999/") == "Not a URL."


def test_a_send_to_the_local_network_is_refused_when_not_allowed(webhook_receiver, settings):
    url, received = webhook_receiver  # on 127.0.0.1; the fixture allows the local network
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False  # ...which an administrator turned off since
    with pytest.raises(Refused, match=r"\(127\.0\.0\.1 is a loopback address\)"):
        webhook_send(url=url, stored_secret=encrypt_json({"secret": "s3cret"}), payload={"event": "test"})
    assert received == []


def test_a_name_checked_at_send_is_not_looked_up_again_for_the_connection(webhook_receiver, dns):
    """The connection goes to the address that was checked, and the receiver still sees the
    name (Host header): a name that answers differently on its next lookup (DNS rebinding)
    cannot move the connection elsewhere."""
    url, received = webhook_receiver
    names, asked = dns
    names["hooks.atrium.example"] = ["127.0.0.1"]  # the first answer only: a second lookup fails
    port = url.split(":")[2].split("/")[0]
    status = webhook_send(
        url=f"http://hooks.atrium.example:{port}/hooks",
        stored_secret=encrypt_json({"secret": "s3cret"}),
        payload={"event": "test"},
    )
    assert status == 204 and asked == {"hooks.atrium.example": 1}
    (headers, body) = received[0]
    assert headers["Host"] == f"hooks.atrium.example:{port}" and body == b'{"event":"test"}'


def test_a_name_that_moved_to_the_local_network_since_it_was_saved_is_refused_at_send(webhook_receiver, dns, settings):
    url, received = webhook_receiver
    names, _ = dns
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    names["hooks.atrium.example"] = ["93.184.215.14", "127.0.0.1"]  # public when saved, local when sent
    port = url.split(":")[2].split("/")[0]
    moving = f"http://hooks.atrium.example:{port}/hooks"
    assert url_problem(moving) == ""
    with pytest.raises(Refused, match="hooks.atrium.example resolves to 127.0.0.1, a loopback address"):
        webhook_send(url=moving, stored_secret=encrypt_json({"secret": "s3cret"}), payload={"event": "test"})
    assert received == []


def test_over_https_the_certificate_is_checked_against_the_name_not_the_address(dns, monkeypatch, settings, tmp_path):
    """The connection goes to the checked address, and TLS still speaks the name: the server
    hears it as SNI and its certificate (for the name only) verifies."""
    import ssl
    import threading
    from datetime import UTC, datetime, timedelta
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    name = "hooks.atrium.example"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder(subject_name=subject, issuer_name=subject, public_key=key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    heard = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            heard.append(("Host", self.headers["Host"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, server_name, ctx: heard.append(("SNI", server_name))
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # the receiver's certificate is trusted
        settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True  # the receiver is on 127.0.0.1
        names, asked = dns
        names[name] = ["127.0.0.1"]
        url = f"https://{name}:{server.server_port}/hooks"
        assert webhook_send(url=url, stored_secret=encrypt_json({"secret": "s3cret"}), payload={}) == 204
    finally:
        server.shutdown()
    assert heard == [("SNI", name), ("Host", f"{name}:{server.server_port}")] and asked == {name: 1}
