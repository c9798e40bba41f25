# SPDX-License-Identifier: MIT
"""Message builders for the integration tests: every message is built as
CRLF bytes with no line starting with '.', so the bytes sent over SMTP are
exactly the bytes the server should store after its two trace headers."""
import base64
import random
import uuid

from conftest import DOMAIN


def addr(local):
    return local if "@" in local else f"{local}@{DOMAIN}"


def token():
    return uuid.uuid4().hex


def plain(subject, body="Hello.\r\n", sender="sender@example.org",
          to="alice", extra=()):
    tok = token()
    hdrs = [f"From: <{sender}>", f"To: <{addr(to)}>", f"Subject: {subject}",
            f"Message-ID: <{tok}@example.org>",
            "Date: Thu, 01 Jan 2026 00:00:00 +0000", *extra]
    if isinstance(body, str):
        body = body.encode()
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body


def wrap(b64, width):
    return b"\r\n".join(b64[i:i + width]
                        for i in range(0, len(b64), width)) + b"\r\n"


def pseudo_pdf(size, seed=1234):
    """size deterministic pseudo-random bytes that start like a PDF."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    rnd = random.Random(seed).randbytes(size - len(head) - 6)
    return head + rnd + b"\n%%EOF"


def multipart_with_attachment(subject, data, width=76, sender="s@example.org",
                              to="alice", filename="report.pdf",
                              ctype="application/pdf", text=None):
    tok = token()
    boundary = f"=_b{tok[:16]}"
    text = text or f"Please find {filename} attached ({tok}).\r\n"
    parts = [
        f"From: <{sender}>\r\nTo: <{addr(to)}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{tok}@example.org>\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        "This is a multi-part message in MIME format.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
        f"{text}"
        f"--{boundary}\r\n"
        f"Content-Type: {ctype}; name=\"{filename}\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n",
    ]
    out = parts[0].encode() + wrap(base64.b64encode(data), width)
    out += f"--{boundary}--\r\n".encode()
    return out
