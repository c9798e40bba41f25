# SPDX-License-Identifier: MIT
"""The outbound queue end to end: mail submitted on 587 by alice to
remote domains served by a private unbound (outbound.resolver) and remote
MXs on 127.0.0.x at one port (outbound.port): aiosmtpd (FakeMX, scripted
per phase) and Postfix's smtp-sink. Retries are 1-2 s (queue config), and
days pass by the test clock file (DESPATCH_TEST_CLOCK_FILE), never by
waiting. Bounces and notices are read back from alice's INBOX and parsed
with Python's email package."""
import re
import threading
import time

import pytest

from conftest import record_figure
from fake_mx import DROP, HANG, params_of
from outbound_util import (actions, addr, message, outbound,  # noqa: F401
                           queue_list, queue_rows_for, report_parts, reports,
                           submit, wait_for, wait_queue_empty, wait_reports)

IP = [f"127.0.0.{i}" for i in range(2, 12)]


def check_relayed(data, msg):
    """data (what the remote received) is our one Received: header then
    msg byte for byte; no Return-Path."""
    assert data is not None
    assert not data.lower().startswith(b"return-path:"), data[:300]
    assert data.endswith(msg), (data[:600], msg[:300])
    head = data[:len(data) - len(msg)]
    assert head.startswith(b"Received: "), head
    assert head.endswith(b"\r\n"), head
    lines = head[:-2].split(b"\r\n")
    for ln in lines[1:]:
        assert ln[:1] in (b" ", b"\t"), f"not one header: {head!r}"
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF sent"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR sent"


def sessions_with_mail(mx):
    return [s for s in mx.real_sessions() if s.transactions]


def subject_of(data):
    m = re.search(rb"^Subject: (.*?)\r?$", data, re.M)
    return m.group(1).decode() if m else None


# --- delivery ------------------------------------------------------------------------
def test_one_domain_one_session(outbound):
    mx = outbound.fake_mx(IP[0])
    outbound.domain("one.test", [IP[0]])
    outbound.start()
    rcpts = ["x@one.test", "y@one.test", "z@one.test"]
    msg = message("to one domain", "x@one.test")
    assert submit(outbound.d, "alice", rcpts, msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = mx.received()
    assert len(got) == 1, [(t.mail_arg, t.rcpts) for t in got]
    t = got[0]
    assert t.mail_from == addr("alice")
    assert sorted(t.rcpts) == rcpts
    check_relayed(t.data, msg)
    assert len(sessions_with_mail(mx)) == 1
    # The local copy is not kept: alice's INBOX is empty (no report).
    assert outbound.d.uids("alice") == []


def test_many_domains_one_session_each(outbound):
    doms = {"d1.test": (IP[0], 3), "d2.test": (IP[1], 1),
            "d3.test": (IP[2], 4)}
    mxs = {}
    for dom, (ip, _) in doms.items():
        mxs[dom] = outbound.fake_mx(ip)
        outbound.domain(dom, [ip])
    sink = outbound.sink(IP[3])
    outbound.domain("sink.test", [IP[3]])
    outbound.start()
    rcpts = [f"u{i}@{dom}" for dom, (_, n) in doms.items() for i in range(n)]
    rcpts += ["s1@sink.test", "s2@sink.test"]
    rcpts.append("bob")  # a local one in the same message
    msg = message("to many domains", "u0@d1.test")
    assert submit(outbound.d, "alice", rcpts, msg) == {}
    wait_queue_empty(outbound.d, 60)
    for dom, (ip, n) in doms.items():
        mx = mxs[dom]
        ss = sessions_with_mail(mx)
        assert len(ss) == 1, f"{dom}: {len(ss)} sessions"
        got = mx.received()
        assert len(got) == 1, dom
        assert sorted(got[0].rcpts) == sorted(
            f"u{i}@{dom}" for i in range(n)), dom
        check_relayed(got[0].data, msg)
    dumps = sink.dumps()
    assert len(dumps) == 1, dumps
    assert sorted(dumps[0]["rcpts"]) == ["<s1@sink.test>", "<s2@sink.test>"]
    assert dumps[0]["mail"].startswith(f"<{addr('alice')}>")
    uids = outbound.d.uids("bob")
    assert len(uids) == 1


def test_a_record_only_domain(outbound):
    mx = outbound.fake_mx(IP[4])
    outbound.dns.add_a_only("aonly.test", IP[4])
    outbound.start()
    msg = message("implicit MX", "x@aonly.test")
    assert submit(outbound.d, "alice", ["x@aonly.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = mx.received()
    assert len(got) == 1 and got[0].rcpts == ["x@aonly.test"]
    check_relayed(got[0].data, msg)


def test_temporary_failure_then_success(outbound):
    seen = {"rcpt": 0, "dot": 0}

    def beh(phase, arg, mx):
        if phase == "RCPT" and "<later@" in arg:
            seen["rcpt"] += 1
            if seen["rcpt"] == 1:
                return "451 4.3.0 Try again later"
        if phase == "DOT" and "dotlater@t.test" in arg:
            seen["dot"] += 1
            if seen["dot"] == 1:
                return "452 4.3.1 Insufficient system storage"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("t.test", [IP[0]])
    outbound.start()
    m1 = message("rcpt 451 once", "later@t.test")
    m2 = message("data 452 once", "dotlater@t.test")
    assert submit(outbound.d, "alice", ["later@t.test"], m1) == {}
    assert submit(outbound.d, "alice", ["dotlater@t.test"], m2) == {}
    wait_queue_empty(outbound.d, 60)
    assert seen["rcpt"] >= 2 and seen["dot"] >= 2, seen
    got = mx.rcpts_received()
    assert sorted(r for r, _ in got) == ["dotlater@t.test", "later@t.test"]
    for r, data in got:
        check_relayed(data, m1 if r.startswith("later") else m2)
    assert reports(outbound.d, "alice") == []


def test_dropped_connection_then_success(outbound):
    seen = {"n": 0}

    def beh(phase, arg, mx):
        if phase == "DATA":
            seen["n"] += 1
            if seen["n"] == 1:
                return DROP
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("t.test", [IP[0]])
    outbound.start()
    msg = message("dropped once", "x@t.test")
    assert submit(outbound.d, "alice", ["x@t.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert seen["n"] >= 2 and mx.drops == 1
    t, = mx.received()
    check_relayed(t.data, msg)
    assert reports(outbound.d, "alice") == []


def check_bounce_top(m):
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    # A report has the null sender.
    assert (m["Return-Path"] or "").strip() == "<>", m["Return-Path"]
    assert "mailer-daemon@" in (m["From"] or "").lower(), m["From"]
    assert addr("alice") in (m["To"] or ""), m["To"]
    assert (m["Auto-Submitted"] or "").strip().lower().startswith(
        "auto-replied"), m["Auto-Submitted"]
    assert m["Message-ID"] and m["Date"] and m["Subject"]


def test_permanent_failure_bounce_structure(outbound):
    def beh(phase, arg, mx):
        if phase == "RCPT" and "bad@" in arg:
            return "550 5.1.1 <bad@p.test>: Recipient address rejected"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    msg = message("will bounce", "bad@p.test",
                  body="Body of the original.\r\n")
    assert submit(outbound.d, "alice", ["good@p.test", "bad@p.test"],
                  msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert [r for r, _ in mx.rcpts_received()] == ["good@p.test"]
    (uid, m), = wait_reports(outbound.d, "alice", 1, 30)
    check_bounce_top(m)
    human, per_msg, per_rcpt, third = report_parts(m)
    assert human.get_content_type() == "text/plain"
    assert "mx.example.test" in per_msg["Reporting-MTA"], per_msg.items()
    assert per_msg["Reporting-MTA"].split(";")[0].strip().lower() == "dns"
    assert per_msg["Arrival-Date"], per_msg.items()
    assert len(per_rcpt) == 1, [b.items() for b in per_rcpt]
    f = per_rcpt[0]
    assert re.fullmatch(r"rfc822;\s*bad@p\.test",
                        f["Final-Recipient"].strip(), re.I), f.items()
    assert f["Action"].strip().lower() == "failed"
    assert f["Status"].strip() == "5.1.1", f.items()
    diag = " ".join(f["Diagnostic-Code"].split())
    assert re.match(r"smtp;\s*550 5\.1\.1 <bad@p\.test>: Recipient address "
                    r"rejected", diag, re.I), diag
    assert " ".join(f["Remote-MTA"].split()).lower() == "dns; mx1.p.test", \
        f.items()
    assert f["Last-Attempt-Date"], f.items()
    assert third is not None
    assert third.get_content_type() == "text/rfc822-headers"
    hdrs = third.get_payload(decode=True) or third.get_payload().encode()
    assert b"Subject: will bounce" in hdrs, hdrs
    assert b"Body of the original." not in hdrs
    # One bounce, no more, after more queue ticks.
    time.sleep(2.5)
    assert len(reports(outbound.d, "alice")) == 1


def test_permanent_failure_at_end_of_data(outbound):
    def beh(phase, arg, mx):
        if phase == "DOT":
            return "554 5.6.0 Message content rejected"
        return None
    outbound.fake_mx(IP[0], beh)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    msg = message("content rejected", "a@p.test")
    assert submit(outbound.d, "alice", ["a@p.test", "b@p.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    rs = wait_reports(outbound.d, "alice", 1, 30)
    acts = [a for _, m in rs for a in actions(m)]
    assert sorted(r.split(";")[-1].strip() for _, r, _ in acts) == \
        ["a@p.test", "b@p.test"], acts
    for a, _, st in acts:
        assert a == "failed" and st == "5.6.0", acts


@pytest.mark.parametrize("kind", ["nullmx", "nxdomain"])
def test_no_mail_domain_bounces(outbound, kind):
    outbound.fake_mx(IP[0])
    outbound.domain("ok.test", [IP[0]])
    dom = "nomail.test"
    if kind == "nullmx":
        outbound.dns.add_null_mx(dom)
    else:
        outbound.dns.add_nxdomain(dom)
    outbound.start()
    assert submit(outbound.d, "alice", [f"x@{dom}"],
                  message(kind, f"x@{dom}")) == {}
    wait_queue_empty(outbound.d, 60)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    (a, rcpt, st), = actions(m)
    assert a == "failed" and rcpt.endswith(f"x@{dom}")
    assert st.startswith("5."), st


def test_lifetime_expiry_by_clock(outbound):
    attempts = []

    def beh(phase, arg, mx):
        if phase == "RCPT":
            attempts.append(time.monotonic())
            return "451 4.7.1 Greylisted, come back later"
        return None
    outbound.fake_mx(IP[0], beh)
    outbound.domain("slow.test", [IP[0]])
    # No delay notice in this test: the expiry alone.
    outbound.start(queue={"delay_notice_seconds": 0})
    msg = message("expires", "x@slow.test")
    assert submit(outbound.d, "alice", ["x@slow.test"], msg) == {}
    wait_for(lambda: len(attempts) >= 2, 30, "two attempts")
    assert reports(outbound.d, "alice") == []
    assert queue_rows_for(outbound.d, "x@slow.test")
    outbound.advance_clock(6 * 86400)
    wait_queue_empty(outbound.d, 30)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    check_bounce_top(m)
    _, _, per_rcpt, third = report_parts(m)
    f, = per_rcpt
    assert f["Action"].strip().lower() == "failed"
    st = f["Status"].strip()
    # Delivery time expired (RFC 3463 X.4.7), with the last remote reply.
    assert st in ("4.4.7", "5.4.7"), st
    assert "451 4.7.1 Greylisted" in " ".join(
        (f["Diagnostic-Code"] or "").split()), f.items()
    assert "x@slow.test" in f["Final-Recipient"]
    hdrs = third.get_payload(decode=True) or third.get_payload().encode()
    assert b"Subject: expires" in hdrs


def test_delay_notice_after_five_hours(outbound):
    attempts = []

    def beh(phase, arg, mx):
        if phase == "RCPT":
            attempts.append(time.monotonic())
            return "450 4.2.0 Mailbox busy"
        return None
    outbound.fake_mx(IP[0], beh)
    outbound.domain("slow.test", [IP[0]])
    outbound.start()
    msg = message("delayed", "x@slow.test")
    assert submit(outbound.d, "alice", ["x@slow.test"], msg) == {}
    wait_for(lambda: len(attempts) >= 1, 30, "a first attempt")
    assert reports(outbound.d, "alice") == []
    outbound.advance_clock(5 * 3600)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30, action="delayed")
    check_bounce_top(m)
    (a, rcpt, st), = actions(m)
    assert a == "delayed" and "x@slow.test" in rcpt
    assert st.startswith("4."), st
    # Still queued, retried, and told only once.
    n = len(attempts)
    wait_for(lambda: len(attempts) >= n + 2, 30, "two more attempts")
    rs = reports(outbound.d, "alice")
    assert len(rs) == 1, [actions(m) for _, m in rs]
    assert queue_rows_for(outbound.d, "x@slow.test")
    # Five more hours: still one notice (once per recipient).
    outbound.advance_clock(5 * 3600)
    n = len(attempts)
    wait_for(lambda: len(attempts) >= n + 2, 30, "two more attempts")
    rs = reports(outbound.d, "alice")
    assert len(rs) == 1, [actions(m) for _, m in rs]


def test_mx_fallback_first_host_down(outbound):
    # mx1 (127.0.0.2) has no listener; mx2 takes the mail.
    mx2 = outbound.fake_mx(IP[1])
    outbound.domain("fb.test", [IP[0], IP[1]])
    outbound.start()
    msg = message("fallback", "x@fb.test")
    assert submit(outbound.d, "alice", ["x@fb.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = mx2.received()
    assert len(got) == 1 and got[0].rcpts == ["x@fb.test"]
    check_relayed(got[0].data, msg)


def test_mx_fallback_first_host_temp_fails(outbound):
    mx1 = outbound.fake_mx(IP[0], lambda p, a, mx:
                           "421 4.3.2 Service shutting down"
                           if p == "EHLO" else None)
    mx2 = outbound.fake_mx(IP[1])
    outbound.domain("fb.test", [IP[0], IP[1]])
    outbound.start()
    msg = message("fallback 421", "x@fb.test")
    assert submit(outbound.d, "alice", ["x@fb.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert mx1.received() == []
    got = mx2.received()
    assert len(got) == 1 and got[0].rcpts == ["x@fb.test"]


def test_starttls_to_remote(outbound):
    mx = outbound.fake_mx(IP[0], starttls=True)
    outbound.domain("tls.test", [IP[0]])
    outbound.start()
    msg = message("over TLS", "x@tls.test")
    assert submit(outbound.d, "alice", ["x@tls.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = mx.received()
    assert len(got) == 1
    assert got[0].tls, "the remote offered STARTTLS; mail went in clear"
    check_relayed(got[0].data, msg)


def test_notify_never_no_bounce(outbound):
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.1.1 No such user"
                     if p == "RCPT" else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["x@p.test"],
                  message("never tell", "x@p.test"),
                  rcpt_options=["NOTIFY=NEVER"]) == {}
    wait_queue_empty(outbound.d, 60)
    time.sleep(2.5)
    assert outbound.d.uids("alice") == []


def test_null_sender_never_bounced(outbound):
    # A remote sender asks NOTIFY=SUCCESS for bob on the MX: despatch
    # queues a "delivered" report to far.test with the null sender; far's
    # MX refuses it (550): there is nobody to bounce that to.
    far = outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.7.1 Go away"
                           if p == "RCPT" else None)
    outbound.domain("far.test", [IP[0]])
    outbound.start()
    import smtplib
    from conftest import HOST
    c = smtplib.SMTP(HOST, outbound.d.port, local_hostname="far.test",
                     timeout=30)
    try:
        c.ehlo()
        assert "dsn" in c.esmtp_features
        assert c.sendmail("ext@far.test", [addr("bob")],
                          message("please confirm", "bob",
                                  sender="ext@far.test"),
                          rcpt_options=["NOTIFY=SUCCESS"]) == {}
    finally:
        c.close()
    wait_for(lambda: any(t.mail_arg and "<>" in t.mail_arg
                         for s in far.real_sessions()
                         for t in s.transactions),
             30, "the delivered report's attempt at far.test (MAIL FROM:<>)")
    wait_queue_empty(outbound.d, 30)
    time.sleep(2.5)
    assert len(outbound.d.uids("bob")) == 1
    for u in ("alice", "carol"):
        assert outbound.d.uids(u) == [], u
    out, rows = queue_list(outbound.d)
    assert rows == [], out


def test_dsn_params_passed_on(outbound):
    mx = outbound.fake_mx(IP[0], dsn=True)
    outbound.domain("dsn.test", [IP[0]])
    outbound.start()
    msg = message("dsn params", "x@dsn.test")
    assert submit(outbound.d, "alice", ["x@dsn.test"], msg,
                  mail_options=["RET=HDRS", "ENVID=QQ+2Bid-123.abc"],
                  rcpt_options=["NOTIFY=SUCCESS,DELAY,FAILURE",
                                "ORCPT=rfc822;Orig+2Bx@dsn.test"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    mp = t.mail_params()
    assert mp.get("RET") == "HDRS", t.mail_arg
    assert mp.get("ENVID") == "QQ+2Bid-123.abc", t.mail_arg
    rp = params_of(t.rcpt_args[0])
    assert set(rp.get("NOTIFY", "").upper().split(",")) == \
        {"SUCCESS", "DELAY", "FAILURE"}, t.rcpt_args
    assert rp.get("ORCPT", "").lower() == "rfc822;orig+2bx@dsn.test", \
        t.rcpt_args
    check_relayed(t.data, msg)
    # The remote took over the DSN duty: no "relayed" report from us.
    time.sleep(2)
    assert reports(outbound.d, "alice") == []


def test_notify_success_without_remote_dsn_relayed_report(outbound):
    mx = outbound.fake_mx(IP[0], dsn=False)
    outbound.domain("nodsn.test", [IP[0]])
    outbound.start()
    msg = message("tell me", "x@nodsn.test")
    assert submit(outbound.d, "alice", ["x@nodsn.test"], msg,
                  mail_options=["ENVID=env-77"],
                  rcpt_options=["NOTIFY=SUCCESS"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    assert "NOTIFY" not in t.rcpt_args[0].upper(), t.rcpt_args
    assert "ENVID" not in (t.mail_arg or "").upper(), t.mail_arg
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    _, per_msg, _, _ = report_parts(m)
    (a, rcpt, st), = actions(m)
    assert a == "relayed" and "x@nodsn.test" in rcpt, (a, rcpt)
    assert st.startswith("2."), st
    assert (per_msg["Original-Envelope-Id"] or "").strip() == "env-77"


def eight_bit_message(to):
    body = ("Line one.\r\n"
            ".A line that starts with a dot.\r\n"
            "..Two dots.\r\n"
            ".\r\n"  # a lone dot inside the message
            "Trailing spaces   \r\n"
            "\r\n"
            "Grüße, ünïcödé — 8-bit.\r\n"
            + "x" * 990 + "\r\n"
            "\tTab line.\r\n"
            "Last line.\r\n").encode("utf-8")
    return message("byte exact", to, body=body,
                   extra=("MIME-Version: 1.0",
                          "Content-Type: text/plain; charset=utf-8",
                          "Content-Transfer-Encoding: 8bit"))


def test_byte_exact_aiosmtpd(outbound):
    mx = outbound.fake_mx(IP[0])
    outbound.domain("exact.test", [IP[0]])
    outbound.start()
    msg = eight_bit_message("x@exact.test")
    assert submit(outbound.d, "alice", ["x@exact.test"], msg,
                  mail_options=["BODY=8BITMIME"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    check_relayed(t.data, msg)
    assert "BODY=8BITMIME" in (t.mail_arg or "").upper(), t.mail_arg


def test_byte_exact_smtp_sink(outbound):
    sink = outbound.sink(IP[0])
    outbound.domain("exact.test", [IP[0]])
    outbound.start()
    msg = eight_bit_message("x@exact.test")
    assert submit(outbound.d, "alice", ["x@exact.test"], msg,
                  mail_options=["BODY=8BITMIME"]) == {}
    wait_queue_empty(outbound.d, 60)
    d, = sink.dumps()
    assert d["rcpts"] == ["<x@exact.test>"]
    lf = msg.replace(b"\r\n", b"\n")
    assert d["data"].endswith(lf), (d["data"][-400:], lf[-400:])
    head = d["data"][:len(d["data"]) - len(lf)]
    assert head.startswith(b"Received: ") and \
        b"return-path" not in head.lower(), head


# --- the queue commands while serve runs --------------------------------------------
def test_queue_commands(outbound):
    mode = {"ok": False}

    def beh(phase, arg, mx):
        if phase == "RCPT" and not mode["ok"]:
            return "451 4.3.0 Not now"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("q.test", [IP[0]])
    # Long back-off: only the commands make rows due again.
    outbound.start(queue={"retry_min_seconds": 600,
                          "retry_max_seconds": 3600})
    d = outbound.d
    names = ["a", "b", "c", "d", "e"]
    for n in names:
        assert submit(d, "alice", [f"{n}@q.test"],
                      message(f"queue {n}", f"{n}@q.test")) == {}

    def tried():
        return {addr_ for s in mx.real_sessions() for t in s.transactions
                for addr_ in t.rcpt_args}
    wait_for(lambda: len(tried()) >= 5, 30, "a first attempt for each")
    ids = {}
    for n in names:
        rows = queue_rows_for(d, f"{n}@q.test")
        assert len(rows) == 1, (n, queue_list(d)[0])
        ids[n] = rows[0][0]
    assert len(set(ids.values())) == 5, ids

    show = d.cli("queue", "show", str(ids["a"])).stdout.decode()
    assert "a@q.test" in show and addr("alice") in show, show
    assert "451" in show, f"last reply not shown: {show}"
    r = d.cli("queue", "show", "987654321", check=False)
    assert r.returncode != 0

    mode["ok"] = True
    d.cli("queue", "hold", str(ids["b"]))
    held = d.cli("queue", "show", str(ids["b"])).stdout.decode().lower()
    assert "hold" in held or "held" in held, held

    def delivered():
        return {r for r, _ in mx.rcpts_received()}
    d.cli("queue", "retry", str(ids["a"]))
    wait_for(lambda: "a@q.test" in delivered(), 10, "a after queue retry")
    assert delivered() == {"a@q.test"}

    d.cli("queue", "remove", str(ids["e"]))
    assert queue_rows_for(d, "e@q.test") == []
    d.cli("queue", "flush")
    wait_for(lambda: {"c@q.test", "d@q.test"} <= delivered(), 10,
             "c and d after queue flush")
    time.sleep(2.5)
    assert "b@q.test" not in delivered(), "a held row was delivered"
    assert "e@q.test" not in delivered(), "a removed row was delivered"
    assert len(queue_rows_for(d, "b@q.test")) == 1

    # release lets it be tried at its next attempt (10 minutes away):
    # retry makes that now.
    d.cli("queue", "release", str(ids["b"]))
    d.cli("queue", "retry", str(ids["b"]))
    wait_for(lambda: "b@q.test" in delivered(), 10,
             "b after queue release + retry")
    wait_queue_empty(d, 10)
    assert sorted(delivered()) == ["a@q.test", "b@q.test", "c@q.test",
                                   "d@q.test"]
    # Each exactly once.
    assert len(mx.rcpts_received()) == 4


# --- crash safety -------------------------------------------------------------------
def test_sigkill_during_delivery_none_lost(outbound):
    mode = {"hang": True}
    lock = threading.Lock()

    def beh(phase, arg, mx):
        if phase == "DOT":
            with lock:
                if mode["hang"]:
                    return HANG
        return None
    doms = ["k1.test", "k2.test", "k3.test"]
    mxs = {}
    for i, dom in enumerate(doms):
        mxs[dom] = outbound.fake_mx(IP[i], beh, hang_seconds=60)
        outbound.domain(dom, [IP[i]])
    outbound.start()
    d = outbound.d
    expected = set()
    for m in range(4):
        rcpts = [f"r{j}@{dom}" for dom in doms for j in range(3)]
        subj = f"crash {m}"
        assert submit(d, "alice", rcpts,
                      message(subj, rcpts[0])) == {}
        expected |= {(subj, r) for r in rcpts}
    wait_for(lambda: all(mx.hangs >= 1 for mx in mxs.values()), 30,
             "every remote holding a delivery at its final dot")
    d.kill()
    with lock:
        mode["hang"] = False
    d.start()
    wait_queue_empty(d, 90)
    got = []
    for mx in mxs.values():
        for r, data in mx.rcpts_received():
            got.append((subject_of(data), r))
    counts = {}
    for k in got:
        counts[k] = counts.get(k, 0) + 1
    missing = expected - set(counts)
    assert not missing, f"lost: {sorted(missing)}"
    assert set(counts) == expected, sorted(set(counts) - expected)
    dups = sum(n - 1 for n in counts.values())
    record_figure("outbound_sigkill",
                  f"{len(expected)} recipient deliveries, {dups} duplicates "
                  f"after SIGKILL mid-delivery")
    d.stop()
    out = d.verify()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
