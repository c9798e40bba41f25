# SPDX-License-Identifier: MIT
"""Delivery: one recipient, many recipients (stored once), an alias, and
what a sender sees for a foreign domain or an unknown local user."""
import smtplib
import subprocess

import pytest

from conftest import HOST, strip_trace
from msgs import addr, plain


def smtp(server, timeout=60):
    c = smtplib.SMTP(HOST, server.port, local_hostname="client.example.org",
                     timeout=timeout)
    c.ehlo()
    return c


def test_one_recipient_smtplib(server):
    msg = plain("one recipient", "Hello alice.\r\n", to="alice")
    with smtp(server) as c:
        refused = c.sendmail("sender@example.org", [addr("alice")], msg)
    assert refused == {}
    uids = server.uids("alice")
    assert len(uids) == 1
    rp, received, rest = strip_trace(server.cat("alice", uids[0]))
    assert rp == b"Return-Path: <sender@example.org>\r\n"
    assert rest == msg
    assert server.uids("bob") == []
    assert server.stats()["messages"] == 1


def test_one_recipient_swaks(server, tmp_path):
    r = subprocess.run(
        ["/usr/bin/swaks", "--server", f"{HOST}:{server.port}",
         "--ehlo", "swaks.example.org", "--from", "swaks@example.org",
         "--to", addr("bob"), "--header", "Subject: via swaks",
         "--body", "Sent by swaks.", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out
    uids = server.uids("bob")
    assert len(uids) == 1
    stored = server.cat("bob", uids[0])
    rp, _, rest = strip_trace(stored)
    assert rp == b"Return-Path: <swaks@example.org>\r\n"
    assert b"Subject: via swaks\r\n" in rest
    assert b"Sent by swaks." in rest


def test_thirty_recipients_stored_once(despatch):
    rcpts = [f"u{i:02d}" for i in range(30)]
    for u in rcpts:
        despatch.add_user(u)
    despatch.start()
    before = despatch.stats()
    msg = plain("to thirty", "One copy, thirty mailboxes.\r\n", to="u00")
    with smtp(despatch) as c:
        refused = c.sendmail("list@example.org", [addr(u) for u in rcpts],
                             msg)
    assert refused == {}
    after = despatch.stats()
    assert after["messages"] - before["messages"] == 1
    for u in rcpts:
        uids = despatch.uids(u)
        assert len(uids) == 1, f"{u}: {uids}"
        _, _, rest = strip_trace(despatch.cat(u, uids[0]))
        assert rest == msg, u


def test_alias_delivery(despatch):
    despatch.cli("alias", "add", addr("team"), addr("alice"))
    despatch.cli("alias", "add", addr("team"), addr("bob"))
    despatch.start()
    msg = plain("to the team", "Hello team.\r\n", to="team")
    with smtp(despatch) as c:
        assert c.sendmail("boss@example.org", [addr("team")], msg) == {}
    for u in ("alice", "bob"):
        uids = despatch.uids(u)
        assert len(uids) == 1, u
        _, _, rest = strip_trace(despatch.cat(u, uids[0]))
        assert rest == msg
    assert despatch.uids("carol") == []
    assert despatch.stats()["messages"] == 1


def test_relay_refused(server):
    with smtp(server) as c:
        code, resp = c.mail("sender@example.org")
        assert code == 250
        code, resp = c.rcpt("someone@elsewhere.example.net")
        assert code == 554, resp
        assert b"5.7.1" in resp, resp
        # And the local recipient in the same transaction still works.
        code, resp = c.rcpt(addr("alice"))
        assert code == 250, resp
        c.rset()
    assert server.stats()["messages"] == 0


def test_relay_refused_whole_message(server):
    with smtp(server) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            c.sendmail("sender@example.org", ["x@elsewhere.example.net"],
                       plain("relay", to="x@elsewhere.example.net"))
    code, resp = ei.value.recipients["x@elsewhere.example.net"]
    assert code == 554 and b"5.7.1" in resp
    assert server.stats()["messages"] == 0


def test_unknown_user(server):
    with smtp(server) as c:
        code, _ = c.mail("sender@example.org")
        assert code == 250
        code, resp = c.rcpt(addr("nobody"))
        assert code == 550, resp
        assert b"5.1.1" in resp, resp
        code, resp = c.rcpt(addr("alice"))
        assert code == 250
        code, resp = c.data(plain("partly unknown"))
        assert code == 250, resp
    assert len(server.uids("alice")) == 1
    assert server.stats()["messages"] == 1


def test_null_sender(server):
    msg = plain("bounce", "A delivery status notification.\r\n",
                sender="MAILER-DAEMON@example.org")
    with smtp(server) as c:
        code, resp = c.mail("<>")
        assert code == 250, resp
        code, resp = c.rcpt(addr("alice"))
        assert code == 250, resp
        code, resp = c.data(msg)
        assert code == 250, resp
    uids = server.uids("alice")
    assert len(uids) == 1
    rp, _, rest = strip_trace(server.cat("alice", uids[0]))
    assert rp == b"Return-Path: <>\r\n"
    assert rest == msg
