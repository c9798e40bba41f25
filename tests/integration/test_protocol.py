# SPDX-License-Identifier: MIT
"""SMTP protocol behaviour a client notices: PIPELINING, BDAT, STARTTLS,
limits (size, line length), mail loops, and SMTP smuggling."""
import smtplib
import socket
import ssl

import pytest

from conftest import HOST, Raw, strip_trace
from msgs import addr, plain


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def only_message(server, user="alice"):
    uids = server.uids(user)
    assert len(uids) == 1, f"{user}: {uids}"
    return strip_trace(server.cat(user, uids[0]))[2]


# --- PIPELINING ----------------------------------------------------------------
def test_pipelining(server):
    r = Raw(server.port)
    assert r.reply()[0] == 220
    assert "PIPELINING" in r.ehlo()
    msg1 = plain("pipelined one", "First.\r\n")
    msg2 = plain("pipelined two", "Second.\r\n", to="bob")
    # One write: the whole envelope up to DATA.
    r.send(b"MAIL FROM:<p@example.org>\r\n"
           b"RCPT TO:<" + addr("alice").encode() + b">\r\n"
           b"RCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<" + addr("carol").encode() + b">\r\n"
           b"DATA\r\n")
    codes = [r.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354], codes
    # The body, its end, and the whole next transaction in one write.
    r.send(msg1 + b".\r\n"
           b"RSET\r\nMAIL FROM:<p2@example.org>\r\n"
           b"RCPT TO:<" + addr("bob").encode() + b">\r\nDATA\r\n")
    codes = [r.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 250, 354], codes
    r.send(msg2 + b".\r\nQUIT\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[0] == 221
    r.close()
    assert only_message(server, "alice") == msg1
    assert only_message(server, "carol") == msg1
    assert only_message(server, "bob") == msg2
    assert server.stats()["messages"] == 2


# --- BDAT (CHUNKING) --------------------------------------------------------------
def test_bdat_chunks(server):
    r = Raw(server.port)
    assert r.reply()[0] == 220
    assert "CHUNKING" in r.ehlo()
    # Lines starting with '.' are not stuffed in BDAT; chunk boundaries
    # fall inside a CRLF and inside a line.
    msg = plain("chunked", ".leading dot line\r\n..two dots\r\n.\r\n"
                "middle\r\nlast line\r\n")
    inside_crlf = msg.index(b"\r\n", 60) + 1
    cuts = sorted({0, 37, inside_crlf, len(msg) // 2, len(msg) - 7})
    assert r.cmd("MAIL FROM:<chunker@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<" + addr("alice") + ">")[0] == 250
    for a, b in zip(cuts, cuts[1:]):
        r.send(f"BDAT {b - a}\r\n".encode() + msg[a:b])
        code, lines = r.reply()
        assert code == 250, lines
    r.send(f"BDAT {len(msg) - cuts[-1]} LAST\r\n".encode() + msg[cuts[-1]:])
    code, lines = r.reply()
    assert code == 250, lines
    # An empty BDAT LAST chunk ends a second message.
    msg2 = plain("chunked two", "Second.\r\n", to="bob")
    assert r.cmd("MAIL FROM:<chunker@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<" + addr("bob") + ">")[0] == 250
    r.send(f"BDAT {len(msg2)}\r\n".encode() + msg2)
    assert r.reply()[0] == 250
    code, lines = r.cmd("BDAT 0 LAST")
    assert code == 250, lines
    assert r.cmd("QUIT")[0] == 221
    r.close()
    assert only_message(server, "alice") == msg
    assert only_message(server, "bob") == msg2


def test_bdat_pipelined(server):
    r = Raw(server.port)
    assert r.reply()[0] == 220
    r.ehlo()
    msg = plain("bdat pipelined", "All in one write.\r\n")
    half = len(msg) // 2
    r.send(b"MAIL FROM:<x@example.org>\r\nRCPT TO:<" + addr("alice").encode()
           + b">\r\n" + f"BDAT {half}\r\n".encode() + msg[:half]
           + f"BDAT {len(msg) - half} LAST\r\n".encode() + msg[half:]
           + b"QUIT\r\n")
    codes = [r.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 250, 221], codes
    r.close()
    assert only_message(server) == msg


# --- STARTTLS ---------------------------------------------------------------------
def test_starttls_delivery(server):
    msg = plain("over tls", "Encrypted hop.\r\n")
    with smtplib.SMTP(HOST, server.port, local_hostname="tls.example.org",
                      timeout=60) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        code, _ = c.starttls(context=tls_context())
        assert code == 220
        c.ehlo()
        assert not c.has_extn("starttls")  # not offered twice
        assert c.sock.version() is not None
        assert c.sendmail("tls@example.org", [addr("alice")], msg) == {}
    assert only_message(server) == msg


def test_starttls_discards_injected_plaintext(server):
    """CVE-2011-0411 class: commands sent in the same packet as STARTTLS
    must not be executed inside the TLS session."""
    r = Raw(server.port)
    assert r.reply()[0] == 220
    r.ehlo()
    r.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n"
           b"RCPT TO:<" + addr("bob").encode() + b">\r\n")
    code, lines = r.reply()
    assert code == 220, lines
    assert r.buf == b"", f"plaintext reply after 220: {r.buf!r}"
    tls = tls_context().wrap_socket(r.sock, server_hostname=None)
    tls.settimeout(30)
    t = Raw.__new__(Raw)
    t.sock, t.buf = tls, b""
    # The first reply inside TLS must be the EHLO's, not one to an
    # injected command.
    code, lines = t.cmd("EHLO client.example.org")
    assert code == 250 and lines[0].startswith("250"), lines
    assert not any("injected" in l for l in lines)
    # The session started over: no sender, so RCPT is out of sequence.
    code, lines = t.cmd("RCPT TO:<" + addr("alice") + ">")
    assert code == 503, lines
    assert t.cmd("MAIL FROM:<real@example.org>")[0] == 250
    assert t.cmd("RCPT TO:<" + addr("alice") + ">")[0] == 250
    assert t.cmd("DATA")[0] == 354
    msg = plain("after injection", "Real message.\r\n")
    t.send(msg + b".\r\n")
    assert t.reply()[0] == 250
    t.cmd("QUIT")
    t.close()
    assert only_message(server) == msg
    assert server.uids("bob") == []


# --- limits -----------------------------------------------------------------------
def test_line_too_long(server):
    r = Raw(server.port)
    assert r.reply()[0] == 220
    r.ehlo()
    code, lines = r.cmd("NOOP " + "x" * 3000)
    assert code == 500, lines
    assert "5.5.2" in lines[-1], lines
    code, lines = r.cmd("MAIL FROM:<" + "a" * 2100 + "@example.org>")
    assert code == 500 and "5.5.2" in lines[-1], lines
    # The session survives a long line.
    assert r.cmd("NOOP")[0] == 250
    r.cmd("QUIT")
    r.close()


def advertised_size(server):
    with smtplib.SMTP(HOST, server.port, timeout=60) as c:
        c.ehlo()
        assert c.has_extn("size")
        return int(c.esmtp_features["size"])


@pytest.fixture
def small_limit_server(despatch):
    """A server whose message size limit is lowered to 1 MiB in the config
    (if init wrote the setting), else the default."""
    despatch.set_smtp_limit("max_message_size", 1048576)
    despatch.start()
    return despatch


def test_size_param_over_limit(small_limit_server):
    s = small_limit_server
    limit = advertised_size(s)
    with smtplib.SMTP(HOST, s.port, timeout=60) as c:
        c.ehlo()
        code, resp = c.mail("big@example.org", [f"SIZE={limit + 1}"])
        assert code == 552, resp
        assert b"5.3.4" in resp, resp
        code, resp = c.mail("big@example.org", [f"SIZE={limit}"])
        assert code == 250, resp
        c.rset()


def test_oversize_body_rejected(small_limit_server):
    s = small_limit_server
    limit = advertised_size(s)
    line = b"y" * 998 + b"\r\n"
    body = line * (limit // len(line) + 64)
    msg = plain("too big", body)
    assert len(msg) > limit
    with smtplib.SMTP(HOST, s.port, timeout=120) as c:
        c.ehlo()
        # No SIZE= parameter (sendmail() would add one): the server only
        # learns the size from the body itself.
        assert c.mail("big@example.org")[0] == 250
        assert c.rcpt(addr("alice"))[0] == 250
        code, resp = c.data(msg)
        assert code == 552, resp
        assert b"5.3.4" in resp, resp
        # The session is still usable after the swallowed body.
        assert c.noop()[0] == 250
        small = plain("small after big")
        assert c.sendmail("big@example.org", [addr("bob")], small) == {}
    assert s.uids("alice") == []
    assert s.stats()["messages"] == 1
    assert only_message(s, "bob") == small


def test_mail_loop(server):
    hops = "".join(f"Received: from hop{i}.example.org by hop{i + 1}."
                   f"example.org; Thu, 01 Jan 2026 00:00:00 +0000\r\n"
                   for i in range(101))
    msg = hops.encode() + plain("looping")
    with smtplib.SMTP(HOST, server.port, timeout=60) as c:
        c.ehlo()
        with pytest.raises(smtplib.SMTPDataError) as ei:
            c.sendmail("loop@example.org", [addr("alice")], msg)
        assert ei.value.smtp_code == 554, ei.value
        assert b"5.4.6" in ei.value.smtp_error
        # 100 Received: headers are still fine.
        ok = hops.split("\r\n", 1)[1].encode() + plain("not looping")
        assert c.sendmail("loop@example.org", [addr("bob")], ok) == {}
    assert server.uids("alice") == []
    assert only_message(server, "bob") == ok


# --- SMTP smuggling -----------------------------------------------------------------
SMUGGLE_ENDINGS = [
    b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\n", b"\n.\r",
    b"\r.\r\n", b"\r\n.\r", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n",
    b"\n\n.\n\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n.\r\r\n",
]


@pytest.mark.parametrize("ending", SMUGGLE_ENDINGS,
                         ids=[repr(e)[2:-1] for e in SMUGGLE_ENDINGS])
def test_smuggling_yields_at_most_one_message(server, ending):
    smuggled = (b"MAIL FROM:<admin@example.test>\r\n"
                b"RCPT TO:<" + addr("bob").encode() + b">\r\n"
                b"DATA\r\n"
                b"From: <admin@example.test>\r\nSubject: smuggled\r\n\r\n"
                b"This must never be a message of its own.\r\n")
    head = plain("carrier", b"Innocent text.")
    r = Raw(server.port)
    assert r.reply()[0] == 220
    r.ehlo()
    assert r.cmd("MAIL FROM:<carrier@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<" + addr("alice") + ">")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(head + ending + smuggled + b"\r\n.\r\n")
    replies = []
    code, lines = r.reply()
    replies.append((code, lines))
    # Anything the server still answers must not accept a second message.
    r.send(b"QUIT\r\n")
    for _ in range(8):
        try:
            code, lines = r.reply()
        except (TimeoutError, socket.timeout, ConnectionError):
            break
        if code is None:
            break
        replies.append((code, lines))
        if code == 221:
            break
    r.close()
    final_250s = [c for c, _ in replies if c == 250]
    assert len(final_250s) <= 1, replies
    assert not any(c == 354 for c, _ in replies), replies
    assert server.uids("bob") == [], "smuggled message delivered"
    st = server.stats()
    assert st["messages"] <= 1, st
    if replies[0][0] == 250:
        assert st["messages"] == 1
        stored = only_message(server, "alice")
        assert b"smuggled" in stored  # the smuggled text is body text
