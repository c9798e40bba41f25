# SPDX-License-Identifier: MIT
"""Attack tests on the wire, IMAP side (issue 5): one known attack per
test, against one real `despatch serve` shared by the module, with lowered
limits (config): at most 8 sessions from one address, loopback included
(imap.limit_loopback), 40 at once, and 2 s (plus 1 s per 500 bytes) for a
command to arrive, literals included. Each must end in a clear protocol error (BAD, NO,
`* BYE`), bounded memory (VmRSS) and time, and a server still serving:
after every test a fresh client logs in and selects INBOX, and every line
of the server's log is one well-formed event line.

Already covered elsewhere and referenced, not repeated: STARTTLS with a
pipelined LOGIN (test_imap_auth.py's
test_starttls_discards_pipelined_plaintext), password guessing (delays
1, 2, 4, 8 s, ban after 10, one answer for unknown user and wrong
password: test_imap_hostile.py's test_password_guessing; submission:
test_attack_smtp.py), literal counts and sizes at the byte
(test_imap_hostile.py), nesting and line limits (test_imap_limits.py)."""
import re
import socket
import time

import pytest

from conftest import HOST, PASSWORD, USERS, record_figure
from imap_util import (Imap, Literal, addr, imap_port, imaps_port, quote,
                       read_until_eof, tls_context)
from test_attack_smtp import (assert_log_clean, attack_despatch, client_hello,
                              log_bytes, new_log_text, parallel, rss_kb,
                              set_in_group, trickle_until_closed)

IMAP_LIMITS = {
    "max_connections": 40,
    "max_connections_per_ip": 8,
    "limit_loopback": "true",
    "command_time_seconds": 2,
    "login_timeout_seconds": 10,
}


def imap_from(d, src="127.0.0.1", greeting=True, timeout=30):
    """An Imap client whose socket is bound to src (127.0.0.0/8)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((HOST, imap_port(d)))
    c = Imap.__new__(Imap)
    c.sock, c.timeout, c.buf, c.n = s, timeout, b"", 0
    c.inflate = c.deflate = None
    c.eof = False
    c.greeting = c.read_resp() if greeting else None
    return c


def logged_in(d, src="127.0.0.1", user="alice"):
    c = imap_from(d, src)
    assert c.greeting is not None and c.greeting.raw.startswith(b"* OK"), \
        c.greeting
    c.ok("LOGIN", quote(addr(user)), quote(PASSWORD))
    return c


def healthy(d):
    assert d.proc is not None and d.proc.poll() is None, "serve exited"
    deadline = time.monotonic() + 15
    while True:  # the per-address cap may still count closing sessions
        c = imap_from(d)
        if c.greeting is not None and c.greeting.raw.startswith(b"* OK"):
            break
        c.close()
        assert time.monotonic() < deadline, c.greeting
        time.sleep(0.2)
    c.ok("LOGIN", quote(addr("carol")), quote(PASSWORD))
    c.ok("SELECT INBOX")
    c.ok("LOGOUT")
    c.close()
    assert_log_clean(d)


@pytest.fixture(scope="module")
def im(tmp_path_factory):
    d = attack_despatch(tmp_path_factory.mktemp("attack-imap"))
    d.init()
    for u in USERS:
        d.add_user(u)
    set_in_group(d, "imap", IMAP_LIMITS)
    d.start()
    for p in (imap_port(d),):
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((HOST, p), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "IMAP does not accept"
                time.sleep(0.05)
    yield d
    if d.proc is not None:
        d.stop()
    d.check_problems()


@pytest.fixture(autouse=True)
def still_serving(request):
    yield
    if "im" in request.fixturenames:
        healthy(request.getfixturevalue("im"))


# --- STARTTLS command injection ------------------------------------------------
def test_cve_2021_33515_starttls_command_injection_imap(im):
    """Dovecot's CVE-2021-33515 (and CVE-2011-0411's IMAP form): commands
    pipelined in plaintext after STARTTLS - a LOGIN with a literal, a
    non-synchronizing literal, an AUTHENTICATE with SASL-IR - must be
    dropped with the plaintext buffer; inside TLS nothing ran and the
    session is not authenticated."""
    import base64
    c = imap_from(im, "127.0.1.1")
    ir = base64.b64encode(f"\0{addr('alice')}\0{PASSWORD}".encode())
    c.send(b"S1 STARTTLS\r\n"
           b"S2 LOGIN {%d}\r\n" % len(addr("alice")) + addr("alice").encode()
           + b" " + quote(PASSWORD).encode() + b"\r\n"
           b"S3 AUTHENTICATE PLAIN " + ir + b"\r\n"
           b"S4 SELECT {5+}\r\nINBOX\r\n")
    r = c.read_tagged("S1")
    assert r.status == "OK", r
    assert c.buf == b"", f"plaintext after the tagged OK: {c.buf!r}"
    c.sock = tls_context().wrap_socket(c.sock)
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    assert not any(re.match(rb"S[234] ", u.raw) for u in r.untagged), r
    r = c.cmd("SELECT INBOX")
    assert r.status in ("BAD", "NO"), r  # still not authenticated
    c.ok("LOGOUT")
    c.close()


# --- literals and parentheses ---------------------------------------------------
def test_literal_flood_and_deep_parentheses_before_login(im):
    """Before login: at most 4 literals of at most 4096 bytes per command
    and nesting 4; past any: BAD before the '+' (nothing buffered), and
    past 10 BADs `* BYE`. A 1 MB line of '(' is cut as too long."""
    before = rss_kb(im)
    c = imap_from(im, "127.0.1.2")
    r = c.cmd("ID", "(" + " ".join(['"k"'] * 2) + " " +
              "(" * 6 + ")" * 6 + ")")
    assert r.status == "BAD", r
    c.send(b"L1 LOGIN {1}\r\n")
    resp = c.read_resp()
    assert resp.raw.startswith(b"+"), resp
    c.send(b"a {1}\r\n")
    resp = c.read_resp()
    assert resp.raw.startswith(b"+") or resp.raw.startswith(b"L1 "), resp
    if resp.raw.startswith(b"+"):
        c.send(b"b\r\n")
        r = c.read_tagged("L1")
        assert r.status == "NO", r  # wrong password: the same NO
    c.send(b"L2 LOGIN {99999}\r\n")
    r = c.read_tagged("L2")
    assert r.status in ("BAD", "NO"), r  # refused before '+'
    lits = " ".join(["{1+}\r\nx"] * 6)
    c.send(f"L3 ID ({lits})\r\n".encode())
    r = c.read_tagged("L3")
    assert r.status == "BAD", r
    c.send(b"L4 ID " + b"(" * (1 << 20) + b"\r\n")
    r, seen = c.wait_for(lambda x: x.raw.startswith((b"L4 ", b"* BYE")), 20)
    assert r is not None and (b"BAD" in r.raw or b"BYE" in r.raw), seen
    c.close()
    # past 10 BADs: BYE
    c = imap_from(im, "127.0.1.2")
    c.send(b"".join(b"B%d ID %s\r\n" % (i, b"(" * 8) for i in range(12)))
    data, closed = read_until_eof(c, 10)
    assert b"* BYE" in data and closed, data[-300:]
    c.close()
    grew = rss_kb(im) - before
    print(f"pre-login literal/paren flood: RSS +{grew} KiB")
    assert grew < 16 * 1024, grew


def test_literal_flood_and_deep_parentheses_after_login(im):
    """After login: 1000 literals per command, nesting 64, 64 KiB lines:
    1,001 literal+ strings in one SEARCH get BAD; 65 levels of parentheses
    get BAD, 64 are parsed; 200,000 '(' exceed the line; memory flat."""
    c = logged_in(im, "127.0.1.3")
    c.ok("SELECT INBOX")
    before = rss_kb(im)
    t0 = time.monotonic()
    subj = "".join("SUBJECT {1+}\r\na " for _ in range(1001))
    c.send(f"M1 SEARCH {subj}ALL\r\n".encode())
    r = c.read_tagged("M1", timeout=60)
    assert r.status == "BAD", r
    ok = "(" * 63 + "ALL" + ")" * 63
    assert c.cmd("SEARCH", ok).status == "OK"
    r = c.cmd("SEARCH", "(" * 70 + "ALL" + ")" * 70)
    assert r.status == "BAD", r
    c.send(b"M2 SEARCH " + b"(" * 200000 + b"\r\n")
    r = c.read_tagged("M2", timeout=60)
    assert r.status == "BAD", r
    assert c.cmd("NOOP").status == "OK"
    took = time.monotonic() - t0
    c.ok("LOGOUT")
    c.close()
    grew = rss_kb(im) - before
    print(f"post-login literal/paren flood: {took:.1f} s, RSS +{grew} KiB")
    assert grew < 32 * 1024, grew
    assert took < 20, took


# --- NUL and invalid UTF-8 -------------------------------------------------------
COMMANDS = ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE",
            "LOGIN", "ENABLE", "ID", "SELECT", "EXAMINE", "CREATE", "DELETE",
            "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
            "NAMESPACE", "STATUS", "APPEND", "IDLE", "CHECK", "CLOSE",
            "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
            "MOVE", "UID FETCH", "UID SEARCH", "GETQUOTAROOT", "XYZZY"]
BAD_ARGS = [b"\x00", b"\"a\x00b\"", b"\"\xff\xfe\"", b"\"\xc0\xaf\"",
            b"{3+}\r\na\x00b"]


def nul_round(im, src, login):
    c = logged_in(im, src) if login else imap_from(im, src)
    if login:
        c.ok("SELECT INBOX")
    n = 0
    for cmd in COMMANDS:
        for arg in BAD_ARGS:
            n += 1
            tag = b"N%d" % n
            c.send(tag + b" " + cmd.encode() + b" " + arg + b"\r\n")
            r, seen = c.wait_for(
                lambda x: x.raw.startswith(tag + b" ") or
                x.raw.startswith(b"* BYE"), 15)
            if r is None or r.raw.startswith(b"* BYE"):
                # too many BADs, or LOGOUT: start again
                c.close()
                c = logged_in(im, src) if login else imap_from(im, src)
                if login:
                    c.ok("SELECT INBOX")
                continue
            status = r.raw[len(tag) + 1:].split(b" ", 1)[0]
            assert status in (b"BAD", b"NO", b"OK"), (cmd, arg, r.raw)
            if cmd in ("LOGIN", "AUTHENTICATE", "CREATE", "APPEND"):
                assert status != b"OK", (cmd, arg, r.raw)
    c.close()


def test_nul_and_invalid_utf8_in_every_command(im):
    """Every command with a NUL (bare, quoted, in a literal) or invalid
    UTF-8 (0xFF, an overlong '/') as its argument, before and after login:
    BAD or NO, never a crash, a login or a created mailbox."""
    nul_round(im, "127.0.1.4", False)
    nul_round(im, "127.0.1.4", True)
    c = logged_in(im, "127.0.1.4")
    r = c.cmd('LIST "" "*"')
    for u in r.untagged:
        assert b"\x00" not in u.raw and b"\xff" not in u.raw, u.raw
    c.ok("LOGOUT")
    c.close()


# --- log injection ---------------------------------------------------------------
def test_log_injection_through_mailbox_names_and_login_names(im):
    """CR, LF and NUL reach the server inside literals: in a LOGIN name
    (NO, the usual failure), in mailbox names (refused) and in search
    strings; no log line is split or forged, no mailbox name keeps them."""
    since = len(log_bytes(im))
    forged = (b"ghost\r\n2026-01-01T00:00:00.000Z level=info event=login "
              b"user=alice@example.test\x1b[31m\xff")
    c = imap_from(im, "127.0.1.5")
    r = c.cmd("LOGIN", Literal(forged), Literal(b"pw\r\nx"))
    assert r.status in ("NO", "BAD"), r
    c.close()
    c = logged_in(im, "127.0.1.6")
    for name in (b"plain-ok", b"a\r\nb", b"x\x00y", b"\xff\xfe",
                 b"esc\x1b[2Jx", b"cr\rlf", b"tab\tx", b"del\x7fx"):
        r = c.cmd("CREATE", Literal(name))
        if name == b"plain-ok":
            assert r.status == "OK", r
        else:  # control characters and invalid UTF-8: refused
            assert r.status in ("NO", "BAD"), (name, r)
        r = c.cmd("SEARCH", "SUBJECT", Literal(name))
        assert r.status in ("OK", "NO", "BAD"), r
    r = c.cmd('LIST "" "*"')
    for u in r.untagged:
        assert not re.search(rb"[\x00\r\n]", u.raw.split(b"\r\n")[0]), u.raw
    c.ok("LOGOUT")
    c.close()
    assert_log_clean(im, since)
    text = new_log_text(im, since)
    assert "2026-01-01T00:00:00.000Z" not in text, text[-2000:]


# --- slow senders ---------------------------------------------------------------
def trickle(c, data, interval, limit_s):
    t0 = time.monotonic()
    c.sock.settimeout(interval)
    got = c.buf
    for b in data:
        if time.monotonic() - t0 > limit_s:
            break
        try:
            c.sock.sendall(bytes([b]))
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            got += chunk
            if b"* BYE" in got:
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return time.monotonic() - t0, got.decode("utf-8", "replace")


def test_slowloris_append_literal_cut_off(im):
    """APPEND's message trickled one byte per 0.5 s: every byte resets the
    30-minute autologout, but a command's literals must come within
    imap.command_time_seconds (2 s here) plus 1 s per 500 bytes: `* BYE`
    after about 2 s; nothing is stored."""
    c = logged_in(im, "127.0.1.7")
    before = c.cmd("STATUS INBOX (MESSAGES)").untagged
    c.send(b"A1 APPEND INBOX {2000}\r\n")
    assert c.read_resp().raw.startswith(b"+")
    took, text = trickle(c, b"Subject: slow\r\n\r\n" + b"x" * 1980, 0.5, 20)
    c.close()
    record_figure("attack IMAP APPEND trickle cut after",
                  f"{took:.1f} s: {text.strip()!r}")
    assert "* BYE" in text and "too slow" in text, text
    assert took < 8, took
    c = logged_in(im, "127.0.1.7")
    assert c.cmd("STATUS INBOX (MESSAGES)").untagged[0].raw == \
        before[0].raw
    c.ok("LOGOUT")
    c.close()


def test_slowloris_login_literal_cut_off(im):
    """The same before login, inside a LOGIN literal (the pre-login
    autologout is 60 s, reset by every byte)."""
    c = imap_from(im, "127.0.1.8")
    c.send(b"L1 LOGIN {100}\r\n")
    assert c.read_resp().raw.startswith(b"+")
    took, text = trickle(c, b"a" * 100, 0.5, 20)
    c.close()
    print(f"LOGIN literal trickle cut after {took:.1f} s: {text.strip()!r}")
    assert "* BYE" in text, text
    assert took < 8, took


def test_slowloris_command_line_cut_off(im):
    """A command line trickled before login, and an IDLE's DONE trickled
    after: each must arrive within imap.command_time_seconds of its first
    byte."""
    c = imap_from(im, "127.0.1.8")
    took, text = trickle(c, b"L1 LOGIN alice@example.test secret\r\n", 0.5,
                         20)
    c.close()
    record_figure("attack IMAP pre-login line trickle cut after",
                  f"{took:.1f} s: {text.strip()!r}")
    assert "* BYE" in text and took < 8, (took, text)
    c = logged_in(im, "127.0.1.8")
    c.ok("SELECT INBOX")
    c.send(b"I1 IDLE\r\n")
    assert c.read_resp().raw.startswith(b"+")
    took, text = trickle(c, b"DO" + b"N" * 40 + b"E\r\n", 0.5, 20)
    c.close()
    print(f"IDLE DONE trickle cut after {took:.1f} s: {text.strip()!r}")
    assert "* BYE" in text and took < 8, (took, text)


def test_slowloris_tls_handshake_trickle_cut_off(im):
    """A TLS ClientHello trickled one byte per 0.5 s on 993 and after
    STARTTLS on 143: cut by the pre-login autologout counted in plaintext
    (imap.login_timeout_seconds, 10 s here); net's idle timer alone,
    reset by every byte, never ended it."""
    hello = client_hello()

    def implicit():
        s = socket.create_connection((HOST, imaps_port(im)), timeout=10)
        r = trickle_until_closed(s, hello, 0.5, 40)
        s.close()
        return r

    def starttls():
        c = imap_from(im, "127.0.1.11")
        c.send(b"S1 STARTTLS\r\n")
        assert c.read_tagged("S1").status == "OK"
        r = trickle_until_closed(c.sock, hello, 0.5, 40)
        c.close()
        return r

    res = parallel(implicit, starttls)
    record_figure("attack IMAP TLS handshake trickle cut after",
                  f"993: {res[0][0]:.1f} s, 143 STARTTLS: {res[1][0]:.1f} s")
    for took, closed in res:
        assert closed and took < 20, res


# --- connection floods -------------------------------------------------------------
def test_connection_flood_one_address_bye(im):
    """imap.max_connections_per_ip = 8 (loopback counted): the 9th and
    later sessions from one address get `* BYE` and are closed; another
    address is served; once the flood ends the address is served again."""
    before = rss_kb(im)
    held = [imap_from(im, "127.0.1.9") for _ in range(8)]
    assert all(c.greeting.raw.startswith(b"* OK") for c in held)
    flood = [imap_from(im, "127.0.1.9") for _ in range(50)]
    assert all(c.greeting.raw.startswith(b"* BYE") for c in flood), \
        [c.greeting for c in flood if not c.greeting.raw.startswith(b"* BYE")]
    assert all(read_until_eof(c, 5)[1] for c in flood[:5])
    other = imap_from(im, "127.0.1.10")
    assert other.greeting.raw.startswith(b"* OK")
    other.close()
    for c in held + flood:
        c.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        c = imap_from(im, "127.0.1.9")
        ok = c.greeting.raw.startswith(b"* OK")
        c.close()
        if ok:
            break
        time.sleep(0.2)
    assert ok
    grew = rss_kb(im) - before
    record_figure("attack IMAP 58 connections from one address",
                  f"RSS +{grew} KiB")
    assert grew < 32 * 1024, grew


def test_connection_flood_global_cap_bye(im):
    """imap.max_connections = 40: with 40 sessions (8 each from five
    addresses) the next one, from a sixth address, gets `* BYE`."""
    held = []
    for i in range(5):
        held += [imap_from(im, f"127.0.1.{30 + i}") for _ in range(8)]
    assert all(c.greeting.raw.startswith(b"* OK") for c in held)
    c = imap_from(im, "127.0.1.36")
    assert c.greeting.raw.startswith(b"* BYE"), c.greeting
    c.close()
    for c in held:
        c.close()
