# SPDX-License-Identifier: MIT
"""`despatch mail cat` gives back exactly the bytes received, after the two
trace headers despatch prepends, whatever the MIME shape."""
import base64
import quopri
import random
import smtplib

import pytest

from conftest import HOST, strip_trace
from msgs import addr, multipart_with_attachment, plain, token, wrap


def nested():
    tok = token()
    rnd = random.Random(7)
    img = rnd.randbytes(30000)
    qp = quopri.encodestring("Grüße, naïve café — ünïcödé text. ".encode()
                             * 40).replace(b"\n", b"\r\n")
    return (
        f"From: <n@example.org>\r\nTo: <{addr('alice')}>\r\n"
        f"Subject: nested\r\nMessage-ID: <{tok}@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
        "preamble text\r\n"
        "--outer\r\n"
        "Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + qp + (
        "\r\n--inner\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
        "<p>Hello</p>\r\n"
        "--inner--\r\n"
        "inner epilogue\r\n"
        "--outer\r\n"
        "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + wrap(base64.b64encode(img), 76) + (
        "--outer\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        "From: <inner@example.org>\r\nSubject: forwarded\r\n\r\n"
        "Inner body.\r\n"
        "--outer--\r\n"
        "epilogue\r\n").encode()


def odd_base64():
    """base64 that a canonical encoder would not produce: wrapped at 60,
    with trailing spaces on one line and a short line in the middle."""
    data = random.Random(3).randbytes(5000)
    b = base64.b64encode(data)
    lines = [b[i:i + 60] for i in range(0, len(b), 60)]
    lines[5] += b"  "
    lines[10:11] = [lines[10][:20], lines[10][20:]]
    tok = token()
    return (f"From: <o@example.org>\r\nTo: <{addr('alice')}>\r\n"
            f"Subject: odd base64\r\nMessage-ID: <{tok}@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() \
        + b"\r\n".join(lines) + b"\r\n--b1--\r\n"


CASES = {
    "plain": lambda: plain("plain", "Just text.\r\nTwo lines.\r\n"),
    "empty-body": lambda: plain("empty body", b""),
    "multipart-76": lambda: multipart_with_attachment(
        "attachment 76", random.Random(1).randbytes(200000), 76),
    "multipart-72": lambda: multipart_with_attachment(
        "attachment 72", random.Random(2).randbytes(200000), 72),
    "base64-odd": odd_base64,
    "nested": nested,
    "8bit": lambda: plain(
        "8bit", "Grüße aus Köln. Ελληνικά. 日本語.\r\n".encode()
        + b"latin1 \xe9\xe8\xff bytes\r\n",
        extra=("MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8",
               "Content-Transfer-Encoding: 8bit")),
    "long-lines": lambda: plain(
        "long lines", b"a" * 998 + b"\r\n" + b"b" * 5000 + b"\r\n"
        + b"c" * 70000 + b"\r\nend\r\n"),
    "whitespace": lambda: plain(
        "whitespace", b"trailing   \r\n\t tab\r\n\r\n\r\n \r\nlast\r\n",
        extra=("X-Folded: one\r\n  two\r\n\tthree",)),
    "dot-lines": lambda: plain(
        "dots", b"..\r\n.\r\n. leading\r\n...three\r\nend.\r\n"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_mail_cat_byte_exact(server, name):
    msg = CASES[name]()
    assert not msg.startswith(b".")
    assert msg.endswith(b"\r\n") or msg.endswith(b"\r\n\r\n") or \
        name == "empty-body"
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    opts = ["BODY=8BITMIME"] if name == "8bit" else []
    with smtplib.SMTP(HOST, server.port, timeout=120) as c:
        c.ehlo()
        # smtplib dot-stuffs; the server must unstuff.
        assert c.sendmail("bytes@example.org", [addr("alice")], msg,
                          mail_options=opts) == {}
    uids = server.uids("alice")
    assert len(uids) == 1
    stored = server.cat("alice", uids[0])
    rp, received, rest = strip_trace(stored)
    assert rp == b"Return-Path: <bytes@example.org>\r\n"
    assert received.lower().startswith(b"received: ")
    if rest != msg:
        i = next((k for k in range(min(len(rest), len(msg)))
                  if rest[k] != msg[k]), min(len(rest), len(msg)))
        pytest.fail(f"{name}: stored body differs at byte {i} "
                    f"(sent {len(msg)}, stored {len(rest)}): "
                    f"sent {msg[max(0, i - 40):i + 40]!r} "
                    f"stored {rest[max(0, i - 40):i + 40]!r}")
    st = server.stats()
    assert st["messages"] == 1
    assert st["logical_bytes"] == len(stored), st
