# SPDX-License-Identifier: MIT
"""Submission on 587 (STARTTLS before AUTH) and 465 (implicit TLS), as
PLAN.md "How it fits together" describes it: AUTH PLAIN and LOGIN only
over TLS, 530 before AUTH, one 535 for every bad login, 553 5.7.1 for a
sender the user does not own (an alias of the user is theirs), the
per-hour limits (451 4.7.1), bare LF refused (550 5.6.0), Message-ID and
Date added when absent and kept when present, local recipients delivered
to their INBOX. Clients: smtplib, swaks and raw commands over TLS."""
import base64
import email
import re
import smtplib
import subprocess

import pytest

from conftest import HOST, PASSWORD, strip_trace
from outbound_util import (addr, configure, message, sub_port, submission,
                           subs_port, tls_ctx, wait_submission)


def start(d, submission_limits=None):
    configure(d, submission=submission_limits)
    d.start()
    wait_submission(d)
    return d


@pytest.fixture
def sub(despatch):
    return start(despatch)


def ehlo_keywords(c):
    code, resp = c.ehlo("client.example.org")
    assert code == 250, resp
    return [l.split()[0].upper() for l in
            resp.decode("utf-8", "replace").split("\n")[1:] if l.strip()], \
        resp.decode("utf-8", "replace")


def auth_line(c):
    """The AUTH keyword line of the last EHLO (smtplib keeps features)."""
    return c.esmtp_features.get("auth")


def plain_b64(user, pw=PASSWORD):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


# --- TLS and AUTH ---------------------------------------------------------------
def test_587_starttls_then_auth_plain(sub):
    c = smtplib.SMTP(HOST, sub_port(sub), local_hostname="client.example.org",
                     timeout=30)
    try:
        kws, text = ehlo_keywords(c)
        assert "STARTTLS" in kws, text
        assert "AUTH" not in kws, f"AUTH advertised before TLS: {text}"
        assert "DSN" in kws, text
        c.starttls(context=tls_ctx())
        kws, text = ehlo_keywords(c)
        assert "STARTTLS" not in kws, text
        assert "AUTH" in kws, text
        mechs = auth_line(c).upper().split()
        assert "PLAIN" in mechs and "LOGIN" in mechs, text
        code, resp = c.docmd("AUTH", "PLAIN " + plain_b64(addr("alice")))
        assert code == 235, resp
        assert c.mail(addr("alice"))[0] == 250
    finally:
        c.close()


def test_587_auth_login(sub):
    c = smtplib.SMTP(HOST, sub_port(sub), local_hostname="client.example.org",
                     timeout=30)
    try:
        c.ehlo()
        c.starttls(context=tls_ctx())
        c.ehlo()
        code, resp = c.docmd("AUTH", "LOGIN")
        assert code == 334, resp
        assert base64.b64decode(resp).lower().startswith(b"username"), resp
        code, resp = c.docmd(base64.b64encode(addr("bob").encode()).decode())
        assert code == 334, resp
        assert base64.b64decode(resp).lower().startswith(b"password"), resp
        code, resp = c.docmd(base64.b64encode(PASSWORD.encode()).decode())
        assert code == 235, resp
        assert c.mail(addr("bob"))[0] == 250
    finally:
        c.close()


def test_auth_plain_and_login_through_smtplib(sub):
    for mech in ("PLAIN", "LOGIN"):
        c = submission(sub, login=False)
        try:
            c.user, c.password = addr("carol"), PASSWORD
            fn = c.auth_plain if mech == "PLAIN" else c.auth_login
            code, resp = c.auth(mech, fn)
            assert code == 235, (mech, resp)
        finally:
            c.close()


def test_auth_before_tls_refused(sub):
    c = smtplib.SMTP(HOST, sub_port(sub), local_hostname="client.example.org",
                     timeout=30)
    try:
        c.ehlo()
        code, resp = c.docmd("AUTH", "PLAIN " + plain_b64(addr("alice")))
        assert code == 538, resp
        assert b"5.7.11" in resp, resp
        code, resp = c.docmd("AUTH", "LOGIN")
        assert code == 538, resp
    finally:
        c.close()


def test_mail_before_auth_530(sub):
    for implicit in (False, True):
        c = submission(sub, implicit=implicit, login=False)
        try:
            code, resp = c.mail(addr("alice"))
            assert code == 530, resp
            assert b"5.7.0" in resp, resp
            code, resp = c.rcpt(addr("bob"))
            assert code in (530, 503), resp
        finally:
            c.close()


def test_bad_login_same_535(sub):
    replies = []
    for user, pw in ((addr("alice"), "wrong-password"),
                     (addr("nobody"), PASSWORD),
                     ("not-an-address", PASSWORD)):
        c = submission(sub, login=False)
        try:
            b64 = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
            code, resp = c.docmd("AUTH", "PLAIN " + b64)
            replies.append((code, resp))
        finally:
            c.close()
    for code, resp in replies:
        assert code == 535, replies
        assert resp == replies[0][1], f"different 535 texts: {replies}"
        assert b"5.7.8" in resp


def test_465_implicit_tls(sub):
    c = submission(sub, implicit=True, login=False)
    try:
        assert c.sock.version() is not None  # a TLS socket
        mechs = (auth_line(c) or "").upper().split()
        assert "PLAIN" in mechs and "LOGIN" in mechs, c.esmtp_features
        assert "starttls" not in c.esmtp_features
        c.user, c.password = addr("alice"), PASSWORD
        assert c.auth("PLAIN", c.auth_plain)[0] == 235
        msg = message("over 465", "bob")
        assert c.sendmail(addr("alice"), [addr("bob")], msg) == {}
    finally:
        c.close()
    uids = sub.uids("bob")
    assert len(uids) == 1
    _, _, rest = strip_trace(sub.cat("bob", uids[0]))
    assert rest == msg


def test_swaks_587_and_465(sub):
    for port, tls in ((sub_port(sub), "--tls"), (subs_port(sub), "--tlsc")):
        for mech in ("PLAIN", "LOGIN"):
            r = subprocess.run(
                ["/usr/bin/swaks", "--server", f"{HOST}:{port}", tls,
                 "--ehlo", "swaks.example.org", "--auth", mech,
                 "--auth-user", addr("alice"), "--auth-password", PASSWORD,
                 "--from", addr("alice"), "--to", addr("carol"),
                 "--header", f"Subject: swaks {port} {mech}",
                 "--body", "Sent by swaks.", "--timeout", "30"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
            out = r.stdout.decode("utf-8", "replace")
            assert r.returncode == 0, out
    uids = sub.uids("carol")
    assert len(uids) == 4
    subjects = set()
    for u in uids:
        m = email.message_from_bytes(sub.cat("carol", u))
        subjects.add(m["Subject"])
        assert m["Return-Path"].strip() == f"<{addr('alice')}>"
    assert len(subjects) == 4


# --- the sender ---------------------------------------------------------------------
def test_sender_not_owned_553(sub):
    with submission(sub, "alice") as c:
        for other in (addr("bob"), "alice@elsewhere.example.org",
                      "postmaster@" + "example.test"):
            code, resp = c.mail(other)
            assert code == 553, (other, resp)
            assert b"5.7.1" in resp, resp
            c.rset()
        code, resp = c.mail("<>")
        assert 500 <= code < 600, f"null sender on submission: {code} {resp}"
        c.rset()
        assert c.mail(addr("alice"))[0] == 250


def test_sender_case_insensitive_and_alias_owned(despatch):
    despatch.cli("alias", "add", addr("alice.smith"), addr("alice"))
    start(despatch)
    msg = message("from my alias", "bob", sender="alice.smith")
    with submission(despatch, "alice") as c:
        assert c.sendmail("alice@Example.Test", [addr("bob")], msg) == {}
        assert c.sendmail(addr("alice.smith"), [addr("bob")], msg) == {}
    with submission(despatch, "bob") as c:
        code, resp = c.mail(addr("alice.smith"))
        assert code == 553, resp
    uids = despatch.uids("bob")
    assert len(uids) == 2
    rp, _, _ = strip_trace(despatch.cat("bob", uids[1]))
    assert rp == f"Return-Path: <{addr('alice.smith')}>\r\n".encode()


# --- limits ------------------------------------------------------------------------
def test_messages_per_hour_451(despatch):
    start(despatch, {"max_messages_per_hour": 3,
                     "max_recipients_per_hour": 100})
    with submission(despatch, "alice") as c:
        for i in range(3):
            assert c.sendmail(addr("alice"), [addr("bob")],
                              message(f"n{i}", "bob")) == {}
        code, resp = c.mail(addr("alice"))
        if code == 250:
            code, resp = c.rcpt(addr("bob"))
        if code == 250:
            code, resp = c.data(message("over", "bob"))
        assert code == 451, resp
        assert b"4.7.1" in resp, resp
    # The limit is the user's, not the session's: a new session on 465
    # is refused too.
    with submission(despatch, "alice", implicit=True) as c:
        code, resp = c.mail(addr("alice"))
        if code == 250:
            code, resp = c.rcpt(addr("bob"))
        if code == 250:
            code, resp = c.data(message("over again", "bob"))
        assert code == 451 and b"4.7.1" in resp, (code, resp)
    assert len(despatch.uids("bob")) == 3
    # Another user has a limit of their own.
    with submission(despatch, "carol") as c:
        assert c.sendmail(addr("carol"), [addr("bob")],
                          message("carol's", "bob")) == {}
    assert len(despatch.uids("bob")) == 4


def test_recipients_per_hour_451(despatch):
    for i in range(6):
        despatch.add_user(f"r{i}")
    start(despatch, {"max_messages_per_hour": 100,
                     "max_recipients_per_hour": 4})
    with submission(despatch, "alice") as c:
        assert c.mail(addr("alice"))[0] == 250
        codes = []
        for i in range(6):
            code, resp = c.rcpt(addr(f"r{i}"))
            codes.append((code, resp))
        accepted = [i for i, (code, _) in enumerate(codes) if code == 250]
        refused = [(code, resp) for code, resp in codes if code != 250]
        if refused:
            assert accepted == [0, 1, 2, 3], codes
            for code, resp in refused:
                assert code == 451 and b"4.7.1" in resp, codes
            code, resp = c.data(message("four", "r0"))
            assert code == 250, resp
        else:
            # The limit may be applied to the whole message at its end.
            code, resp = c.data(message("six", "r0"))
            assert code == 451 and b"4.7.1" in resp, (code, resp)
            accepted = []
    for i in range(6):
        assert len(despatch.uids(f"r{i}")) == (1 if i in accepted else 0), i


# --- the message ---------------------------------------------------------------------
def send_raw_data(c, data):
    """MAIL/RCPT done: sends DATA and the given bytes unchanged (smtplib's
    data() would fix the line ends), then the final dot; returns the
    reply."""
    code, resp = c.docmd("DATA")
    assert code == 354, resp
    c.send(data + b"\r\n.\r\n")
    return c.getreply()


@pytest.mark.parametrize("bad", [b"bare\nLF", b"bare\rCR"], ids=["LF", "CR"])
def test_bare_lf_rejected(despatch, bad):
    # Refused on submission whatever smtp.reject_bare_lf says (false).
    assert despatch.set_smtp_limit("reject_bare_lf", "false")
    start(despatch)
    with submission(despatch, "alice") as c:
        assert c.mail(addr("alice"))[0] == 250
        assert c.rcpt(addr("bob"))[0] == 250
        msg = message("bare", "bob") + b"line one\r\n" + bad + b" here\r\n"
        code, resp = send_raw_data(c, msg)
        assert code == 550, resp
        assert b"5.6.0" in resp, resp
        # The session goes on.
        assert c.sendmail(addr("alice"), [addr("bob")],
                          message("fine", "bob")) == {}
    assert len(despatch.uids("bob")) == 1


def header_values(raw, name):
    m = email.message_from_bytes(raw)
    return m.get_all(name) or []


def test_message_id_and_date_added(sub):
    msg = (f"From: <{addr('alice')}>\r\nTo: <{addr('bob')}>\r\n"
           "Subject: no id, no date\r\n\r\nBody.\r\n").encode()
    with submission(sub, "alice") as c:
        assert c.sendmail(addr("alice"), [addr("bob")], msg) == {}
    uids = sub.uids("bob")
    assert len(uids) == 1
    stored = sub.cat("bob", uids[0])
    _, _, rest = strip_trace(stored)
    ids = header_values(rest, "Message-ID")
    dates = header_values(rest, "Date")
    assert len(ids) == 1, rest[:600]
    assert re.fullmatch(r"\s*<[^<>@\s]+@[^<>@\s]+>\s*", ids[0]), ids
    assert len(dates) == 1, rest[:600]
    assert email.utils.parsedate_to_datetime(dates[0]) is not None
    # The rest of the message is unchanged and the body is intact.
    assert rest.endswith(b"\r\n\r\nBody.\r\n")
    assert b"Subject: no id, no date\r\n" in rest


def test_message_id_and_date_kept(sub):
    msg = message("has both", "bob")
    with submission(sub, "alice") as c:
        assert c.sendmail(addr("alice"), [addr("bob")], msg) == {}
    uids = sub.uids("bob")
    _, _, rest = strip_trace(sub.cat("bob", uids[0]))
    assert rest == msg


def test_local_recipient_to_inbox(sub):
    msg = message("local delivery", "bob", body="To bob's INBOX.\r\n")
    with submission(sub, "alice") as c:
        assert c.sendmail(addr("alice"), [addr("bob"), addr("carol")],
                          msg) == {}
    for u in ("bob", "carol"):
        uids = sub.uids(u)
        assert len(uids) == 1, u
        rp, received, rest = strip_trace(sub.cat(u, uids[0]))
        assert rp == f"Return-Path: <{addr('alice')}>\r\n".encode()
        assert rest == msg
    assert sub.uids("alice") == []
    assert sub.stats()["messages"] == 1
    # Nothing was queued for a local recipient.
    out = sub.cli("queue", "list").stdout.decode("utf-8", "replace")
    assert addr("bob") not in out, out


def test_mx_still_refuses_relay(sub):
    c = smtplib.SMTP(HOST, sub.port, local_hostname="client.example.org",
                     timeout=30)
    try:
        c.ehlo()
        assert "dsn" in c.esmtp_features, c.esmtp_features
        assert c.mail(addr("alice"))[0] == 250
        code, resp = c.rcpt("someone@elsewhere.example.net")
        assert code == 554 and b"5.7.1" in resp, resp
    finally:
        c.close()


# --- more of AUTH ----------------------------------------------------------------------
def test_auth_authzid_of_someone_else_refused(sub):
    c = submission(sub, login=False)
    try:
        tok = base64.b64encode(
            f"{addr('bob')}\0{addr('alice')}\0{PASSWORD}".encode()).decode()
        code, resp = c.docmd("AUTH", "PLAIN " + tok)
        assert 500 <= code < 600, (code, resp)
        # Its own address as authzid is fine.
        tok = base64.b64encode(
            f"{addr('alice')}\0{addr('alice')}\0{PASSWORD}".encode()).decode()
        code, resp = c.docmd("AUTH", "PLAIN " + tok)
        assert code == 235, resp
    finally:
        c.close()


def test_auth_cancel_and_twice(sub):
    c = submission(sub, login=False)
    try:
        code, resp = c.docmd("AUTH", "LOGIN")
        assert code == 334, resp
        code, resp = c.docmd("*")
        assert code == 501, resp
        c.user, c.password = addr("alice"), PASSWORD
        assert c.auth("PLAIN", c.auth_plain)[0] == 235
        code, resp = c.docmd("AUTH", "PLAIN " + plain_b64(addr("alice")))
        assert code == 503, resp
    finally:
        c.close()


# --- more of the message ----------------------------------------------------------------
def test_message_id_and_date_any_case_kept(sub):
    msg = (f"From: <{addr('alice')}>\r\nTo: <{addr('bob')}>\r\n"
           "Subject: odd case\r\nMESSAGE-id: <odd-case@example.test>\r\n"
           "date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nBody.\r\n").encode()
    with submission(sub, "alice") as c:
        assert c.sendmail(addr("alice"), [addr("bob")], msg) == {}
    _, _, rest = strip_trace(sub.cat("bob", sub.uids("bob")[0]))
    assert rest == msg


def test_header_only_message_gets_id_and_date(sub):
    msg = (f"From: <{addr('alice')}>\r\nTo: <{addr('bob')}>\r\n"
           "Subject: headers only\r\n").encode()
    with submission(sub, "alice") as c:
        assert c.sendmail(addr("alice"), [addr("bob")], msg) == {}
    _, _, rest = strip_trace(sub.cat("bob", sub.uids("bob")[0]))
    assert len(header_values(rest, "Message-ID")) == 1, rest
    assert len(header_values(rest, "Date")) == 1, rest
    assert b"Subject: headers only\r\n" in rest
    m = email.message_from_bytes(rest)
    assert m["From"] == f"<{addr('alice')}>"


def bdat(c, data, last=True):
    c.send(f"BDAT {len(data)}{' LAST' if last else ''}\r\n".encode() + data)
    return c.getreply()


def test_bdat_submission_adds_id_and_refuses_bare_lf(sub):
    with submission(sub, "alice") as c:
        if "chunking" not in c.esmtp_features:
            pytest.fail("CHUNKING not advertised on submission: "
                        f"{c.esmtp_features}")
        msg = (f"From: <{addr('alice')}>\r\nTo: <{addr('bob')}>\r\n"
               "Subject: by BDAT\r\n\r\nChunked body.\r\n").encode()
        assert c.mail(addr("alice"))[0] == 250
        assert c.rcpt(addr("bob"))[0] == 250
        code, resp = bdat(c, msg[:30], last=False)
        assert code == 250, resp
        code, resp = bdat(c, msg[30:])
        assert code == 250, resp
        assert c.mail(addr("alice"))[0] == 250
        assert c.rcpt(addr("bob"))[0] == 250
        code, resp = bdat(c, b"Subject: bare\r\n\r\nbare\nLF\r\n")
        assert code == 550 and b"5.6.0" in resp, (code, resp)
    uids = sub.uids("bob")
    assert len(uids) == 1
    _, _, rest = strip_trace(sub.cat("bob", uids[0]))
    assert len(header_values(rest, "Message-ID")) == 1, rest
    assert len(header_values(rest, "Date")) == 1, rest
    assert rest.endswith(b"\r\n\r\nChunked body.\r\n")


def test_unknown_local_recipient_refused_others_kept(sub):
    with submission(sub, "alice") as c:
        assert c.mail(addr("alice"))[0] == 250
        code, resp = c.rcpt(addr("nobody"))
        assert code == 550 and b"5.1.1" in resp, (code, resp)
        assert c.rcpt(addr("bob"))[0] == 250
        code, resp = c.data(message("partly unknown", "bob"))
        assert code == 250, resp
    assert len(sub.uids("bob")) == 1


def test_pipelined_transaction_after_auth(sub):
    with submission(sub, "alice") as c:
        assert "pipelining" in c.esmtp_features
        msg = message("pipelined", "bob")
        c.send(f"MAIL FROM:<{addr('alice')}>\r\nRCPT TO:<{addr('bob')}>\r\n"
               f"RCPT TO:<{addr('carol')}>\r\nDATA\r\n".encode())
        codes = [c.getreply()[0] for _ in range(4)]
        assert codes == [250, 250, 250, 354], codes
        c.send(msg + b".\r\n")
        code, resp = c.getreply()
        assert code == 250, resp
    for u in ("bob", "carol"):
        _, _, rest = strip_trace(sub.cat(u, sub.uids(u)[0]))
        assert rest == msg
