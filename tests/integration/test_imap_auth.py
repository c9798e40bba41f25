# SPDX-License-Identifier: MIT
"""IMAP: greeting, CAPABILITY, STARTTLS and implicit TLS, LOGIN and
AUTHENTICATE PLAIN (SASL-IR), failed logins, ENABLE, ID, NAMESPACE, LOGOUT."""
import base64
import imaplib
import re
import socket
import time

from conftest import PASSWORD
from imap_util import (Imap, addr, imap_port, imaplib_login, imaps_port,
                       quote, session, tls_context)

# Everything the issue lists, as CAPABILITY shows it once logged in.
AFTER_LOGIN = (
    "IMAP4REV1 IMAP4REV2 IDLE NAMESPACE UNSELECT UIDPLUS MOVE ID ENABLE "
    "LITERAL+ CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
    "CREATE-SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES SORT ESORT "
    "THREAD=REFERENCES THREAD=ORDEREDSUBJECT STATUS=SIZE BINARY MULTIAPPEND "
    "UTF8=ACCEPT QUOTA PREVIEW COMPRESS=DEFLATE").split()


def caps_of(result):
    for r in result.untagged:
        if r.kind() == "CAPABILITY":
            return [str(t).upper() for t in r.tokens[2:]]
    raise AssertionError(f"no CAPABILITY response: {result}")


def config_value(server, key):
    m = re.search(rf"\b{key}\s*=\s*(\d+)\s*;", server.config_path().read_text())
    assert m, key
    return int(m.group(1))


def plain_ir(user, password=PASSWORD, authz=""):
    return base64.b64encode(f"{authz}\0{addr(user)}\0{password}".encode()
                            ).decode()


def test_greeting_and_capability_before_login(imap_server):
    c = Imap(imap_port(imap_server))
    assert c.greeting.raw.startswith(b"* OK"), c.greeting
    caps = caps_of(c.ok("CAPABILITY"))
    for cap in ("IMAP4REV1", "IMAP4REV2", "STARTTLS", "AUTH=PLAIN",
                "SASL-IR"):
        assert cap in caps, (cap, caps)
    assert "LITERAL+" in caps or "LITERAL-" in caps, caps
    # Loopback may log in without TLS, so LOGIN is not disabled here.
    assert "LOGINDISABLED" not in caps, caps
    c.close()


def test_capability_after_login(imap_server):
    c = session(imap_server)
    caps = caps_of(c.ok("CAPABILITY"))
    missing = [x for x in AFTER_LOGIN if x not in caps]
    assert not missing, f"missing {missing} in {caps}"
    limits = [x for x in caps if x.startswith("APPENDLIMIT")]
    assert limits, caps
    assert limits[0] == "APPENDLIMIT=%d" % config_value(
        imap_server, "max_message_size"), limits
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps, caps
    c.close()


def test_starttls_then_login_imaplib(imap_server):
    c = imaplib.IMAP4("127.0.0.1", imap_port(imap_server), timeout=20)
    assert "STARTTLS" in c.capabilities, c.capabilities
    typ, _ = c.starttls(ssl_context=tls_context())
    assert typ == "OK"
    typ, data = c.capability()
    caps = data[0].decode().upper().split()
    assert "STARTTLS" not in caps, caps
    assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps, caps
    typ, data = c.login(addr("alice"), PASSWORD)
    assert typ == "OK", data
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"0"], data
    c.logout()


def test_starttls_discards_pipelined_plaintext(imap_server):
    # Commands pipelined after STARTTLS in plaintext must not run after the
    # handshake (the CVE-2011-0411 class).
    c = Imap(imap_port(imap_server))
    c.send(f"S1 STARTTLS\r\nS2 LOGIN {addr('alice')} {PASSWORD}\r\n")
    r = c.read_tagged("S1")
    assert r.status == "OK", r
    c.sock = tls_context().wrap_socket(c.sock)
    c.buf = b""
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    # S2 never ran: still not authenticated.
    r = c.cmd("SELECT INBOX")
    assert r.status in ("BAD", "NO"), r
    assert not any(b"S2 " in u.raw for u in r.untagged), r
    c.close()


def test_imaps(imap_server):
    c = imaplib_login(imap_server, ssl_=True)
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    c.logout()
    raw = Imap(imaps_port(imap_server), tls=True)
    caps = caps_of(raw.ok("CAPABILITY"))
    assert "STARTTLS" not in caps and "AUTH=PLAIN" in caps, caps
    raw.close()


def test_login_plain_from_loopback(imap_server):
    c = Imap(imap_port(imap_server))
    r = c.login("alice")
    c.ok("SELECT INBOX")
    c.close()


def test_authenticate_plain_sasl_ir(imap_server):
    c = Imap(imap_port(imap_server))
    c.ok("AUTHENTICATE PLAIN", plain_ir("bob"))
    r = c.ok("NAMESPACE")
    c.close()


def test_authenticate_plain_continuation(imap_server):
    c = imaplib.IMAP4("127.0.0.1", imap_port(imap_server), timeout=20)
    typ, data = c.authenticate(
        "PLAIN", lambda _: f"\0{addr('carol')}\0{PASSWORD}".encode())
    assert typ == "OK", data
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    c.logout()


def test_authenticate_cancel(imap_server):
    c = Imap(imap_port(imap_server))
    t = c.tag()
    c.send(f"{t} AUTHENTICATE PLAIN\r\n")
    r = c.read_resp()
    assert r.raw.startswith(b"+"), r
    c.send("*\r\n")
    r = c.read_tagged(t)
    assert r.status == "BAD", r
    c.login("alice")
    c.close()


def timed(c, *parts):
    t0 = time.monotonic()
    r = c.cmd(*parts, timeout=40)
    return r, time.monotonic() - t0


def test_login_failures_identical_and_delayed(imap_server):
    c = Imap(imap_port(imap_server), timeout=40)
    r1, t1 = timed(c, "LOGIN", quote(addr("alice")), quote("wrong-password"))
    r2, t2 = timed(c, "LOGIN", quote(addr("nobody")), quote("wrong-password"))
    r3, t3 = timed(c, "LOGIN", quote(addr("alice")), quote("wrong-again"))
    for r in (r1, r2, r3):
        assert r.status == "NO", r
        assert not r.untagged, r
    # The same answer for an unknown user and a wrong password.
    assert r1.text == r2.text == r3.text, (r1.text, r2.text, r3.text)
    assert t1 >= 0.5, f"first failure answered after {t1:.2f}s"
    assert t3 > t1, f"delays {t1:.2f}s, {t2:.2f}s, {t3:.2f}s do not grow"
    # The same for AUTHENTICATE (but not necessarily the same text).
    r4, t4 = timed(c, "AUTHENTICATE PLAIN",
                   plain_ir("alice", "still-wrong"))
    assert r4.status == "NO", r4
    c.close()
    # Another user from the same address still gets in with the right
    # password after 4 failures.
    c = Imap(imap_port(imap_server), timeout=40)
    r = c.cmd("LOGIN", quote(addr("bob")), quote(PASSWORD), timeout=40)
    assert r.status == "OK", r
    c.close()


def test_commands_need_login(imap_server):
    c = Imap(imap_port(imap_server))
    for cmd in ("SELECT INBOX", "LIST \"\" *", "STATUS INBOX (MESSAGES)"):
        r = c.cmd(cmd)
        assert r.status in ("BAD", "NO"), (cmd, r)
    c.ok("NOOP")
    c.close()


def test_enable(imap_server):
    c = session(imap_server)
    r = c.ok("ENABLE CONDSTORE QRESYNC")
    enabled = [str(t).upper() for u in r.of("ENABLED") for t in u.tokens[2:]]
    assert "CONDSTORE" in enabled and "QRESYNC" in enabled, r
    r = c.ok("ENABLE IMAP4rev2")
    assert [u for u in r.of("ENABLED")
            if "IMAP4REV2" in [str(t).upper() for t in u.tokens]], r
    # Unknown capabilities are ignored, not an error.
    r = c.ok("ENABLE X-NO-SUCH-THING")
    c.close()


def test_id_and_namespace(imap_server, rev2):
    c = Imap(imap_port(imap_server))
    r = c.ok('ID ("name" "pytest" "version" "1")')
    ids = r.of("ID")
    assert len(ids) == 1, r
    c.login("alice")
    if rev2:
        c.enable_rev2()
    r = c.ok("ID NIL")
    assert len(r.of("ID")) == 1, r
    r = c.ok("NAMESPACE")
    ns = r.of("NAMESPACE")
    assert len(ns) == 1, r
    personal, other, shared = ns[0].tokens[2:5]
    assert personal == [["", "/"]], ns[0]
    assert other is None and shared is None, ns[0]
    c.close()


def test_noop_check_logout(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("NOOP")
    c.ok("SELECT INBOX")
    if not rev2:
        c.ok("CHECK")
    r = c.cmd("LOGOUT")
    assert r.status == "OK", r
    assert r.of("BYE"), r
    # Then the server closes the connection.
    c.sock.settimeout(5)
    try:
        assert c.sock.recv(100) == b""
    except socket.timeout:
        raise AssertionError("connection still open 5s after LOGOUT")
    c.close()
