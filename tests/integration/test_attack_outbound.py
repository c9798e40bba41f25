# SPDX-License-Identifier: MIT
"""Attack tests on the wire, outbound side (issue 5): a malicious remote
SMTP server answering despatch's outbound client. One despatch, one
private resolver and one good MX (127.0.0.11) are shared by the module;
each test has its own domain whose first MX (10) is a scripted hostile
server on its own 127.0.0.x address and whose second MX (20) is the good
one. Each attack must end with the client giving up on the hostile host
within its bounds (outbound.timeout_seconds = 3 here: a deadline per
reply that bytes trickling in do not reset), the message delivered once
through the good MX, despatch's memory bounded and its log clean.

Covered elsewhere and not repeated: a never-ending greeting, one 200 KB
line, a greeting without CRLF, bare LF, garbage, mixed multi-line codes,
a lying STARTTLS (test_outbound_hostile.py's
test_hostile_first_mx_then_good_one)."""
import socket
import ssl
import time

import pytest

from conftest import USERS, record_figure
from fake_mx import FakeMX, ScriptedMX, read_line, self_signed
from outbound_util import Outbound, message, submit, wait_for
from test_attack_smtp import (assert_log_clean, attack_despatch, rss_kb)
from test_outbound import IP, check_relayed

GOOD = IP[9]


class Env:
    """The module's despatch + resolver + good MX; hostile MXs are added
    per domain before start."""

    def __init__(self, tmp):
        (tmp / "d").mkdir()
        self.d = attack_despatch(tmp / "d")
        self.ob = Outbound(self.d, tmp)
        self.good = None
        self.tmp = tmp

    def hostile(self, domain, ip, script):
        mx = ScriptedMX(ip, self.ob.port, script, timeout=15)
        mx.start()
        self.ob.servers[ip] = mx
        self.ob.domain(domain, [ip, GOOD])
        return mx


STATE = {"malformed": b"", "inj": [], "endless_lines": 0}


def _serve_smtp(t, record):
    """A plain SMTP server loop on socket t (after EHLO's answer):
    records the message data in record."""
    while True:
        line = read_line(t)
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT") or \
                cmd.startswith(b"RSET") or cmd.startswith(b"NOOP"):
            t.sendall(b"250 ok\r\n")
        elif cmd == b"DATA":
            t.sendall(b"354 go\r\n")
            data = b""
            while not data.endswith(b"\r\n.\r\n"):
                chunk = t.recv(65536)
                if not chunk:
                    return
                data += chunk
            body = data[:-3]  # the final ".\r\n"; then unstuff
            body = (b"\r\n" + body).replace(b"\r\n..", b"\r\n.")[2:]
            record.append(("data", body))
            t.sendall(b"250 queued\r\n")
        elif cmd == b"QUIT":
            t.sendall(b"221 bye\r\n")
            return
        else:
            t.sendall(b"500 what\r\n")


def starttls_injection(cert, key):
    def script(s, n):
        rec = STATE["inj"]
        s.sendall(b"220 inj.test ESMTP\r\n")
        read_line(s)
        s.sendall(b"250-inj.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        line = read_line(s)
        if not line.upper().startswith(b"STARTTLS"):
            rec.append(("no-starttls", line))
            return
        # CVE-2021-38371: replies injected after the 220, in the same
        # packet: a client that keeps them reads them as answers inside TLS
        s.sendall(b"220 2.0.0 go ahead\r\n250-injected.test\r\n"
                  b"250-PIPELINING\r\n250 8BITMIME\r\n250 2.1.0 ok\r\n")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        try:
            t = ctx.wrap_socket(s, server_side=True)
        except (ssl.SSLError, OSError) as e:
            rec.append(("handshake-failed", repr(e)))
            return
        line = read_line(t)
        rec.append(("ehlo", line))
        # Before we answer EHLO, a client in step sends nothing more; one
        # that took the injected lines as our answer goes on with MAIL.
        t.settimeout(1.0)
        try:
            early = t.recv(4096)
        except (socket.timeout, TimeoutError):
            early = b""
        rec.append(("early", early))
        t.settimeout(15)
        t.sendall(b"250-inj.test\r\n250 PIPELINING\r\n")
        _serve_smtp(t, rec)
    return script


def slow_greeting(s, n):
    """Slowloris server: the greeting trickles one byte per 0.2 s and
    never ends."""
    s.sendall(b"220 ")
    for _ in range(300):
        s.sendall(b"x")
        time.sleep(0.2)


def slow_ehlo_reply(s, n):
    """A continuation line of the EHLO reply every 0.2 s, never the last
    one."""
    s.sendall(b"220 slow.test ESMTP\r\n")
    read_line(s)
    for i in range(300):
        s.sendall(b"250-still thinking %d\r\n" % i)
        time.sleep(0.2)


def slow_tls_handshake(s, n):
    """Offers STARTTLS, says 220, then sends its TLS answer one byte per
    0.2 s: a record header announcing 16 KB that never completes."""
    s.sendall(b"220 slow3.test ESMTP\r\n")
    read_line(s)
    s.sendall(b"250-slow3.test\r\n250 STARTTLS\r\n")
    if not read_line(s).upper().startswith(b"STARTTLS"):
        return
    s.sendall(b"220 2.0.0 go ahead\r\n")
    for b in b"\x16\x03\x03\x40\x00" + b"\x02" * 300:
        s.sendall(bytes([b]))
        time.sleep(0.2)


def endless_ehlo_reply(s, n):
    """The EHLO reply as an endless stream of continuation lines, as fast
    as the client reads."""
    s.sendall(b"220 endless.test ESMTP\r\n")
    read_line(s)
    line = b"250-" + b"E" * 70 + b"\r\n"
    block = line * 1000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s.sendall(block)
        STATE["endless_lines"] += 1000


def malformed_after_mail(s, n):
    s.sendall(b"220 malformed.test ESMTP\r\n")
    read_line(s)
    s.sendall(b"250-malformed.test\r\n250 8BITMIME\r\n")
    read_line(s)
    s.sendall(STATE["malformed"])
    time.sleep(5)


MALFORMED = [b"2500 ok\r\n", b"25 ok\r\n", b"-250 ok\r\n", b"250\x00ok\r\n",
             b"2x0 ok\r\n", b"250-a\r\n251 b\r\n", b"250 " + b"y" * 5000
             + b"\r\n", b"\xff\xfe\r\n"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attack-outbound")
    e = Env(tmp)
    e.d.init()
    for u in USERS:
        e.d.add_user(u)
    e.good = FakeMX(GOOD, e.ob.port, tls_dir=tmp / "mx-tls").start()
    e.ob.servers[GOOD] = e.good
    cert, key = self_signed(tmp / "inj-tls")
    e.hostile("inj.test", IP[0], starttls_injection(cert, key))
    e.hostile("slow1.test", IP[1], slow_greeting)
    e.hostile("slow2.test", IP[2], slow_ehlo_reply)
    e.hostile("endless.test", IP[3], endless_ehlo_reply)
    e.hostile("slow3.test", IP[5], slow_tls_handshake)
    e.hostile("malformed.test", IP[4], malformed_after_mail)
    e.ob.start(outbound={"timeout_seconds": 3,
                         "connect_timeout_seconds": 3})
    try:
        yield e
    finally:
        if e.d.proc is not None:
            e.d.stop()
        e.ob.stop()
        e.d.check_problems()


@pytest.fixture(autouse=True)
def clean_after(request):
    yield
    if "env" in request.fixturenames:
        e = request.getfixturevalue("env")
        assert e.d.proc is not None and e.d.proc.poll() is None
        assert_log_clean(e.d)


def via_good(e, subject):
    return [t for t in e.good.received() if subject.encode() in t.data]


def deliver_and_wait(e, domain, subject, timeout=40):
    msg = message(subject, f"x@{domain}")
    t0 = time.monotonic()
    assert submit(e.d, "alice", [f"x@{domain}"], msg) == {}
    wait_for(lambda: via_good(e, subject), timeout,
             f"{subject} through the good MX")
    return msg, time.monotonic() - t0


def test_cve_2021_38371_starttls_response_injection_outbound(env):
    """Exim's client kept replies a server (or a man in the middle) sent
    after its STARTTLS 220 and read them as answers inside TLS. Ours must
    drop them: after the handshake it waits for the real EHLO answer, and
    the message goes once (through the hostile host in TLS, or the good
    MX if it gives up on it)."""
    msg = message("injection", "x@inj.test")
    assert submit(env.d, "alice", ["x@inj.test"], msg) == {}
    wait_for(lambda: any(k == "data" for k, _ in STATE["inj"]) or
             via_good(env, "injection"), 40, "the message delivered")
    time.sleep(0.5)
    rec = STATE["inj"]
    early = [v for k, v in rec if k == "early"]
    assert early and early[0] == b"", \
        f"client sent {early!r} before our EHLO answer: it took the " \
        f"injected replies as ours ({rec})"
    got = [v for k, v in rec if k == "data"] + \
        [t.data for t in via_good(env, "injection")]
    assert len(got) == 1, rec
    check_relayed(got[0], msg)


def test_hostile_mx_slowloris_greeting(env):
    """A greeting trickled one byte per 0.2 s: each byte would reset an
    idle timer; the per-reply deadline (3 s) is not reset by them."""
    _, took = deliver_and_wait(env, "slow1.test", "slow greeting")
    print(f"slow greeting given up, delivered via the next MX in "
          f"{took:.1f} s")
    assert took < 25, took


def test_hostile_mx_slowloris_ehlo_reply(env):
    """An EHLO reply that adds a continuation line every 0.2 s and never
    ends (15 lines in 3 s: under the 100-line cap, so only the deadline
    can stop it)."""
    _, took = deliver_and_wait(env, "slow2.test", "slow ehlo")
    print(f"slow EHLO reply given up in {took:.1f} s")
    assert took < 25, took


def test_hostile_mx_slowloris_tls_handshake(env):
    """After STARTTLS the server's handshake answer trickles one byte per
    0.2 s: the per-reply deadline covers the handshake too."""
    _, took = deliver_and_wait(env, "slow3.test", "slow handshake")
    record_figure("attack outbound slow TLS handshake",
                  f"given up, delivered via the next MX in {took:.1f} s")
    assert took < 25, took


def test_hostile_mx_endless_multiline_reply(env):
    """An EHLO reply streamed as continuation lines as fast as despatch
    reads: cut after SMTP_REPLY_LINES_MAX (100) lines; memory flat."""
    before = rss_kb(env.d)
    _, took = deliver_and_wait(env, "endless.test", "endless reply")
    grew = rss_kb(env.d) - before
    record_figure("attack outbound endless EHLO reply",
                  f"given up in {took:.1f} s after the server sent "
                  f"{STATE['endless_lines']} lines; RSS +{grew} KiB")
    assert grew < 16 * 1024, grew
    assert took < 25, took


@pytest.mark.parametrize("reply", MALFORMED,
                         ids=[repr(r[:12])[2:-1] for r in MALFORMED])
def test_hostile_mx_malformed_reply_codes(env, reply):
    """Malformed answers to MAIL FROM (a 4-digit code, 2 digits, no code,
    NUL, letters, a multi-line reply whose codes differ, a 5000-byte line,
    0xFF): a malformed-reply failure of that host, the message goes
    through the next MX, once."""
    STATE["malformed"] = reply
    subject = f"malformed {MALFORMED.index(reply)}"
    msg, took = deliver_and_wait(env, "malformed.test", subject)
    got = via_good(env, subject)
    assert len(got) == 1, got
    check_relayed(got[0].data, msg)
