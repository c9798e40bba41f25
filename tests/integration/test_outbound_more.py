# SPDX-License-Identifier: MIT
"""More of the outbound queue: RET=FULL bounces, NOTIFY without FAILURE,
the MX's NOTIFY=SUCCESS "delivered" report travelling out, deferred
messages of one domain sharing one session, 452 for some recipients,
a large message byte-exact, routes and the smarthost, 5xx to MAIL, a
reply timeout then the next MX, and SIGKILL while a slow remote accepts
messages one by one (duplicates counted, none lost)."""
import email
import re
import smtplib
import threading
import time

import pytest

from conftest import HOST, record_figure
from fake_mx import HANG, delay
from outbound_util import (actions, addr, message, outbound,  # noqa: F401
                           queue_rows_for,
                           report_parts, reports, submit, wait_for,
                           wait_queue_empty, wait_reports)
from test_outbound import IP, check_relayed, sessions_with_mail, subject_of


def test_ret_full_bounce_has_whole_message(outbound):
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.1.1 No such user"
                     if p == "RCPT" else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    msg = message("full return", "x@p.test",
                  body="Body of the original, returned whole.\r\n")
    assert submit(outbound.d, "alice", ["x@p.test"], msg,
                  mail_options=["RET=FULL"]) == {}
    wait_queue_empty(outbound.d, 60)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    _, _, per_rcpt, third = report_parts(m)
    assert per_rcpt[0]["Action"].strip() == "failed"
    assert third is not None and third.get_content_type() == "message/rfc822"
    inner, = third.get_payload()
    assert inner["Subject"] == "full return"
    assert b"Body of the original, returned whole." in inner.as_bytes()


@pytest.mark.parametrize("notify", ["NEVER", "DELAY", "SUCCESS",
                                    "SUCCESS,DELAY"])
def test_notify_without_failure_no_bounce(outbound, notify):
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.1.1 No such user"
                     if p == "RCPT" else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["x@p.test"],
                  message(f"notify {notify}", "x@p.test"),
                  rcpt_options=[f"NOTIFY={notify}"]) == {}
    wait_queue_empty(outbound.d, 60)
    time.sleep(2.5)
    assert outbound.d.uids("alice") == []


def test_mx_notify_success_delivered_report_goes_out(outbound):
    far = outbound.fake_mx(IP[0])
    outbound.domain("far.test", [IP[0]])
    outbound.start()
    c = smtplib.SMTP(HOST, outbound.d.port, local_hostname="far.test",
                     timeout=30)
    try:
        c.ehlo()
        assert "dsn" in c.esmtp_features
        assert c.sendmail("ext@far.test", [addr("bob")],
                          message("please confirm", "bob",
                                  sender="ext@far.test"),
                          mail_options=["ENVID=far-env-1"],
                          rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                                        "ORCPT=rfc822;bob@example.test"]) \
            == {}
    finally:
        c.close()
    wait_queue_empty(outbound.d, 60)
    assert len(outbound.d.uids("bob")) == 1
    t, = far.received()
    assert t.mail_from == "" or "<>" in t.mail_arg, t.mail_arg
    assert t.rcpts == ["ext@far.test"]
    m = email.message_from_bytes(t.data)
    assert m.get_content_type() == "multipart/report"
    _, per_msg, per_rcpt, _ = report_parts(m)
    f, = per_rcpt
    assert f["Action"].strip().lower() == "delivered"
    assert f["Status"].strip().startswith("2.")
    assert addr("bob") in f["Final-Recipient"]
    assert "".join(f["Original-Recipient"].split()).lower() == \
        "rfc822;bob@example.test", f.items()
    assert (per_msg["Original-Envelope-Id"] or "").strip() == "far-env-1"
    assert not t.data.lower().startswith(b"return-path:")


def test_deferred_messages_share_one_session_after_flush(outbound):
    mode = {"ok": False}

    def beh(phase, arg, mx):
        if phase == "RCPT" and not mode["ok"]:
            return "451 4.3.0 Not now"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("s.test", [IP[0]])
    outbound.start(queue={"retry_min_seconds": 600,
                          "retry_max_seconds": 3600})
    msgs = {}
    for n in ("a", "b", "c"):
        msgs[n] = message(f"share {n}", f"{n}@s.test")
        assert submit(outbound.d, "alice", [f"{n}@s.test"], msgs[n]) == {}
    wait_for(lambda: sum(len(t.rcpt_args) for s in mx.real_sessions()
                         for t in s.transactions) >= 3, 30,
             "a first attempt for each")
    before = len(sessions_with_mail(mx))
    mode["ok"] = True
    outbound.d.cli("queue", "flush")
    wait_queue_empty(outbound.d, 30)
    new = sessions_with_mail(mx)[before:]
    delivered = [t for s in new for t in s.delivered()]
    assert sorted(r for t in delivered for r in t.rcpts) == \
        ["a@s.test", "b@s.test", "c@s.test"]
    assert len(new) == 1, f"{len(new)} sessions for 3 due messages of one " \
        "domain"
    for t in delivered:
        check_relayed(t.data, msgs[t.rcpts[0][0]])


def test_452_for_some_recipients(outbound):
    per_tx = {"n": 0}
    lock = threading.Lock()

    def beh(phase, arg, mx):
        with lock:
            if phase == "MAIL":
                per_tx["n"] = 0
            if phase == "RCPT":
                per_tx["n"] += 1
                if per_tx["n"] > 2:
                    return "452 4.5.3 Too many recipients"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("many.test", [IP[0]])
    outbound.start()
    rcpts = [f"u{i}@many.test" for i in range(5)]
    msg = message("452 after two", rcpts[0])
    assert submit(outbound.d, "alice", rcpts, msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = mx.rcpts_received()
    assert sorted(r for r, _ in got) == rcpts, got
    for _, data in got:
        check_relayed(data, msg)
    for t in mx.received():
        assert len(t.rcpts) <= 2
    assert reports(outbound.d, "alice") == []


def test_large_message_byte_exact(outbound):
    mx = outbound.fake_mx(IP[0])
    outbound.domain("big.test", [IP[0]])
    outbound.start()
    import base64
    import random
    raw = random.Random(7).randbytes(3 * 1024 * 1024)
    b64 = base64.b64encode(raw)
    body = b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) \
        + b"\r\n"
    msg = message("three megabytes", "x@big.test", body=body,
                  extra=("MIME-Version: 1.0",
                         "Content-Type: application/octet-stream",
                         "Content-Transfer-Encoding: base64"))
    assert submit(outbound.d, "alice", ["x@big.test"], msg) == {}
    wait_queue_empty(outbound.d, 120)
    t, = mx.received()
    check_relayed(t.data, msg)


def test_routes_and_smarthost(outbound):
    routed = outbound.fake_mx(IP[5])
    suffix = outbound.fake_mx(IP[6])
    smart = outbound.fake_mx(IP[7])
    by_mx = outbound.fake_mx(IP[8])
    outbound.domain("dns.test", [IP[8]])
    port = outbound.port
    outbound.start(outbound={
        "routes": [{"domain": "routed.test", "host": f"[{IP[5]}]:{port}"},
                   {"domain": ".sub.test", "host": f"[{IP[6]}]:{port}"}],
        "smarthost": f"[{IP[7]}]:{port}"})
    rcpts = ["x@routed.test", "y@a.sub.test", "z@other.test", "w@dns.test"]
    msg = message("routes", rcpts[0])
    assert submit(outbound.d, "alice", rcpts, msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert [r for r, _ in routed.rcpts_received()] == ["x@routed.test"]
    assert [r for r, _ in suffix.rcpts_received()] == ["y@a.sub.test"]
    # With a smarthost, every domain without a route goes to it, even one
    # that has MX records.
    assert sorted(r for r, _ in smart.rcpts_received()) == \
        ["w@dns.test", "z@other.test"]
    assert by_mx.received() == []


def test_routes_without_smarthost_use_mx(outbound):
    routed = outbound.fake_mx(IP[5])
    by_mx = outbound.fake_mx(IP[8])
    outbound.domain("dns.test", [IP[8]])
    outbound.start(outbound={
        "routes": [{"domain": "routed.test",
                    "host": f"[{IP[5]}]:{outbound.port}"}]})
    msg = message("routes+mx", "x@routed.test")
    assert submit(outbound.d, "alice", ["x@routed.test", "w@dns.test"],
                  msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert [r for r, _ in routed.rcpts_received()] == ["x@routed.test"]
    assert [r for r, _ in by_mx.rcpts_received()] == ["w@dns.test"]


def test_5xx_to_mail_bounces_every_recipient(outbound):
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.7.1 Sender rejected"
                     if p == "MAIL" else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["a@p.test", "b@p.test"],
                  message("sender refused", "a@p.test")) == {}
    wait_queue_empty(outbound.d, 60)
    rs = wait_reports(outbound.d, "alice", 1, 30)
    acts = sorted((r.split(";")[-1].strip(), a, st)
                  for _, m in rs for a, r, st in actions(m))
    assert acts == [("a@p.test", "failed", "5.7.1"),
                    ("b@p.test", "failed", "5.7.1")], acts


def test_reply_timeout_then_next_mx(outbound):
    mx1 = outbound.fake_mx(IP[0], lambda p, a, mx: HANG if p == "EHLO"
                           else None, hang_seconds=30)
    mx2 = outbound.fake_mx(IP[1])
    outbound.domain("to.test", [IP[0], IP[1]])
    outbound.start(outbound={"timeout_seconds": 3})
    msg = message("timeout", "x@to.test")
    t0 = time.monotonic()
    assert submit(outbound.d, "alice", ["x@to.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert mx1.hangs >= 1
    t, = mx2.received()
    check_relayed(t.data, msg)
    assert time.monotonic() - t0 >= 2.5


def test_sigkill_while_slow_remote_accepts(outbound):
    mode = {"slow": True}

    def beh(phase, arg, mx):
        if phase == "DOT" and mode["slow"]:
            return delay(0.4)
        return None
    doms = ["s1.test", "s2.test"]
    mxs = [outbound.fake_mx(IP[i], beh) for i in range(len(doms))]
    for i, dom in enumerate(doms):
        outbound.domain(dom, [IP[i]])
    outbound.start()
    d = outbound.d
    expected = set()
    for m in range(10):
        rcpts = [f"r{j}@{dom}" for dom in doms for j in range(2)]
        subj = f"slow {m}"
        assert submit(d, "alice", rcpts, message(subj, rcpts[0])) == {}
        expected |= {(subj, r) for r in rcpts}

    def accepted():
        return sum(len(mx.rcpts_received()) for mx in mxs)
    wait_for(lambda: accepted() >= 4, 30, "a few accepted deliveries")
    before = accepted()
    d.kill()
    assert before < len(expected), "all delivered before the kill"
    mode["slow"] = False
    d.start()
    wait_queue_empty(d, 90)
    counts = {}
    for mx in mxs:
        for r, data in mx.rcpts_received():
            k = (subject_of(data), r)
            counts[k] = counts.get(k, 0) + 1
    missing = expected - set(counts)
    assert not missing, f"lost: {sorted(missing)}"
    assert set(counts) == expected
    dups = sum(n - 1 for n in counts.values())
    record_figure("outbound_sigkill_slow",
                  f"{len(expected)} recipient deliveries, {before} accepted "
                  f"before SIGKILL, {dups} duplicates")
    assert d.stats()["messages"] == 0, "delivered messages left in the store"
    d.stop()
    r = d.verify()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


# --- extensions the remote does or does not offer ---------------------------------
def test_remote_size_too_small_bounces_without_sending(outbound):
    mx = outbound.fake_mx(IP[0], size_limit=2000)
    outbound.domain("small.test", [IP[0]])
    outbound.start()
    msg = message("too big for them", "x@small.test", body="y" * 70 +
                  "\r\n" * 1 + ("z" * 70 + "\r\n") * 60)
    assert submit(outbound.d, "alice", ["x@small.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    (a, rcpt, st), = actions(m)
    assert a == "failed" and st in ("5.3.4", "5.2.3"), (a, st)
    assert mx.received() == []
    # No data was sent to it (the SIZE check comes before MAIL or at it).
    for s in mx.real_sessions():
        for t in s.transactions:
            assert t.data is None


def test_smtputf8_to_remote(outbound):
    mx = outbound.fake_mx(IP[0], smtputf8=True)
    outbound.domain("utf.test", [IP[0]])
    outbound.start()
    msg = ("From: <alice@example.test>\r\nTo: <üser@utf.test>\r\n"
           "Subject: SMTPUTF8\r\nMessage-ID: <utf8-1@example.test>\r\n"
           "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n"
           "Grüße.\r\n").encode()
    assert submit(outbound.d, "alice", ["üser@utf.test"], msg,
                  mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    assert t.rcpts == ["üser@utf.test"]
    assert "SMTPUTF8" in t.mail_arg.upper(), t.mail_arg
    check_relayed(t.data, msg)


def test_smtputf8_to_remote_without_it_bounces(outbound):
    mx = outbound.fake_mx(IP[0], smtputf8=False)
    outbound.domain("utf.test", [IP[0]])
    outbound.start()
    msg = ("From: <alice@example.test>\r\nTo: <üser@utf.test>\r\n"
           "Subject: SMTPUTF8 refused\r\n\r\nGrüße.\r\n").encode()
    assert submit(outbound.d, "alice", ["üser@utf.test"], msg,
                  mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    wait_queue_empty(outbound.d, 60)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    (a, rcpt, st), = actions(m)
    assert a == "failed" and st == "5.6.7", (a, st)
    assert mx.received() == []


# --- reports ----------------------------------------------------------------------
def test_one_bounce_for_two_failed_recipients(outbound):
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.1.1 No such user"
                     if p == "RCPT" and "bad" in a else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["bad1@p.test", "ok@p.test",
                                        "bad2@p.test"],
                  message("two bad", "bad1@p.test")) == {}
    wait_queue_empty(outbound.d, 60)
    wait_reports(outbound.d, "alice", 1, 30)
    time.sleep(2)
    rs = reports(outbound.d, "alice")
    assert len(rs) == 1, [actions(m) for _, m in rs]
    acts = sorted((r.split(";")[-1].strip(), a, st)
                  for a, r, st in actions(rs[0][1]))
    assert acts == [("bad1@p.test", "failed", "5.1.1"),
                    ("bad2@p.test", "failed", "5.1.1")], acts


def test_no_delay_notice_with_notify_failure_only(outbound):
    attempts = []

    def beh(phase, arg, mx):
        if phase == "RCPT":
            attempts.append(1)
            return "450 4.2.0 Mailbox busy"
        return None
    outbound.fake_mx(IP[0], beh)
    outbound.domain("slow.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["x@slow.test"],
                  message("no delay notice", "x@slow.test"),
                  rcpt_options=["NOTIFY=FAILURE"]) == {}
    wait_for(lambda: len(attempts) >= 1, 30, "a first attempt")
    outbound.advance_clock(5 * 3600)
    n = len(attempts)
    wait_for(lambda: len(attempts) >= n + 3, 30, "three more attempts")
    assert outbound.d.uids("alice") == []


def test_notify_success_local_recipient_on_submission(outbound):
    outbound.start()
    assert submit(outbound.d, "alice", ["bob"],
                  message("tell me it arrived", "bob"),
                  mail_options=["ENVID=local-1"],
                  rcpt_options=["NOTIFY=SUCCESS"]) == {}
    assert len(outbound.d.uids("bob")) == 1
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    _, per_msg, _, _ = report_parts(m)
    (a, rcpt, st), = actions(m)
    assert a == "delivered" and addr("bob") in rcpt and st.startswith("2.")
    assert (per_msg["Original-Envelope-Id"] or "").strip() == "local-1"


# --- configuration reload and queue commands on every entry --------------------------
def test_sighup_applies_new_smarthost(outbound):
    import signal
    by_mx = outbound.fake_mx(IP[0])
    smart = outbound.fake_mx(IP[1])
    outbound.domain("h.test", [IP[0]])
    outbound.start()
    assert submit(outbound.d, "alice", ["a@h.test"],
                  message("before HUP", "a@h.test")) == {}
    wait_queue_empty(outbound.d, 60)
    assert [r for r, _ in by_mx.rcpts_received()] == ["a@h.test"]
    p = outbound.d.config_path()
    text = p.read_text()
    import re
    text, n = re.subn(r'(?m)^(\s*smarthost\s*=\s*)"[^"]*";',
                      rf'\g<1>"[{IP[1]}]:{outbound.port}";', text)
    if n == 0:
        text = text.replace(
            f'port = {outbound.port};',
            f'port = {outbound.port};\n  smarthost = "[{IP[1]}]:'
            f'{outbound.port}";', 1)
    p.write_text(text)
    outbound.d.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert submit(outbound.d, "alice", ["b@h.test"],
                  message("after HUP", "b@h.test")) == {}
    wait_queue_empty(outbound.d, 60)
    assert [r for r, _ in smart.rcpts_received()] == ["b@h.test"]
    assert [r for r, _ in by_mx.rcpts_received()] == ["a@h.test"]


def test_queue_commands_on_all(outbound):
    mode = {"ok": False}

    def beh(phase, arg, mx):
        if phase == "RCPT" and not mode["ok"]:
            return "451 4.3.0 Not now"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("q.test", [IP[0]])
    outbound.start(queue={"retry_min_seconds": 600,
                          "retry_max_seconds": 3600})
    d = outbound.d
    for n in ("a", "b", "c"):
        assert submit(d, "alice", [f"{n}@q.test"],
                      message(f"all {n}", f"{n}@q.test")) == {}
    wait_for(lambda: sum(len(t.rcpt_args) for s in mx.real_sessions()
                         for t in s.transactions) >= 3, 30,
             "a first attempt for each")
    mode["ok"] = True
    d.cli("queue", "hold", "all")
    d.cli("queue", "retry", "all")
    time.sleep(2.5)
    assert mx.received() == [], "held entries were delivered"
    d.cli("queue", "release", "all")
    d.cli("queue", "flush")
    wait_queue_empty(d, 20)
    assert sorted(r for r, _ in mx.rcpts_received()) == \
        ["a@q.test", "b@q.test", "c@q.test"]
    # remove all: nothing delivered, no bounce.
    mode["ok"] = False
    assert submit(d, "alice", ["d@q.test"],
                  message("all d", "d@q.test")) == {}
    wait_for(lambda: sum(len(t.rcpt_args) for s in mx.real_sessions()
                         for t in s.transactions) >= 4, 30, "d tried")
    d.cli("queue", "remove", "all")
    wait_queue_empty(d, 5)
    mode["ok"] = True
    time.sleep(2)
    assert "d@q.test" not in [r for r, _ in mx.rcpts_received()]
    assert d.uids("alice") == []
    assert d.stats()["messages"] == 0


def test_max_connections_bounds_sessions(outbound):
    from fake_mx import Tracker
    tr = Tracker()
    doms = [f"c{i}.test" for i in range(8)]
    mxs = []
    for i, dom in enumerate(doms):
        mxs.append(outbound.fake_mx(
            IP[i], lambda p, a, mx: delay(0.3) if p == "DOT" else None,
            tracker=tr))
        outbound.domain(dom, [IP[i]])
    outbound.start(queue={"max_connections": 3})
    expected = set()
    for k in range(4):
        rcpts = [f"u{k}@{dom}" for dom in doms]
        msg = message(f"bounded {k}", rcpts[0])
        assert submit(outbound.d, "alice", rcpts, msg) == {}
        expected |= set(rcpts)
    wait_queue_empty(outbound.d, 90)
    got = [r for mx in mxs for r, _ in mx.rcpts_received()]
    assert sorted(got) == sorted(expected)
    assert 1 <= tr.max_active <= 3, f"{tr.max_active} sessions at once " \
        "with queue.max_connections = 3"
    record_figure("outbound_max_connections",
                  f"{tr.max_active} sessions at once (limit 3), "
                  f"{len(got)} deliveries over {len(doms)} domains")


def test_slow_remote_not_started_twice(outbound):
    # Each delivery takes 4 s at the final dot while the queue polls every
    # second with a 1 s back-off: rows in flight must not start again.
    mx = outbound.fake_mx(IP[0], lambda p, a, mx: delay(4) if p == "DOT"
                          else None)
    outbound.domain("slow.test", [IP[0]])
    outbound.start()
    msgs = []
    for k in range(3):
        msgs.append(message(f"once {k}", f"r{k}@slow.test"))
        assert submit(outbound.d, "alice", [f"r{k}@slow.test"],
                      msgs[k]) == {}
    wait_queue_empty(outbound.d, 60)
    time.sleep(1.5)
    got = sorted(r for r, _ in mx.rcpts_received())
    assert got == ["r0@slow.test", "r1@slow.test", "r2@slow.test"], got
    tried = [a for s in mx.real_sessions() for t in s.transactions
             for a in t.rcpt_args]
    assert len(tried) == 3, f"started more than once: {tried}"


def test_backoff_doubles_up_to_max(outbound):
    times = []

    def beh(phase, arg, mx):
        if phase == "RCPT":
            times.append(time.monotonic())
            return "451 4.3.0 later"
        return None
    outbound.fake_mx(IP[0], beh)
    outbound.domain("b.test", [IP[0]])
    outbound.start(queue={"retry_min_seconds": 1, "retry_max_seconds": 4})
    assert submit(outbound.d, "alice", ["x@b.test"],
                  message("backoff", "x@b.test")) == {}
    wait_for(lambda: len(times) >= 6, 40, "six attempts")
    gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
    # Waits of 1, 2, 4, 4, 4 s, each seen through a 1 s poll.
    # (Bounds leave a second or more for a loaded machine: no doubling
    # would show 1-2 s gaps, no cap 8 s and more.)
    assert gaps[0] < 3.5, gaps
    assert 1.5 <= gaps[1] < 4.5, gaps
    for g in gaps[2:5]:
        assert 3.0 <= g < 6.5, gaps
    record_figure("outbound_backoff", f"gaps {gaps} s (min 1, max 4)")


def test_mail_auth_param_accepted_and_not_passed_on(outbound):
    mx = outbound.fake_mx(IP[0], dsn=True)
    outbound.domain("a.test", [IP[0]])
    outbound.start()
    msg = message("AUTH= param", "x@a.test")
    assert submit(outbound.d, "alice", ["x@a.test"], msg,
                  mail_options=["AUTH=<>"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    check_relayed(t.data, msg)
    # The remote offers no AUTH: no AUTH= parameter (RFC 4954 §5).
    assert "AUTH=" not in t.mail_arg.upper(), t.mail_arg


def test_sigterm_during_delivery_then_restart(outbound):
    mode = {"hang": True}

    def beh(phase, arg, mx):
        if phase == "DOT" and mode["hang"]:
            return HANG
        return None
    mx = outbound.fake_mx(IP[0], beh, hang_seconds=60)
    outbound.domain("t.test", [IP[0]])
    outbound.start()
    d = outbound.d
    msg = message("term", "x@t.test")
    assert submit(d, "alice", ["x@t.test", "y@t.test"], msg) == {}
    wait_for(lambda: mx.hangs >= 1, 30, "a delivery hanging at the dot")
    t0 = time.monotonic()
    rc = d.stop(timeout=20)
    took = time.monotonic() - t0
    assert rc == 0, f"serve exited {rc} on SIGTERM during a delivery"
    assert took < 15, f"SIGTERM took {took:.1f}s with a delivery hanging"
    mode["hang"] = False
    d.start()
    wait_queue_empty(d, 60)
    got = sorted(r for r, _ in mx.rcpts_received())
    assert got == ["x@t.test", "y@t.test"], got
    for _, data in mx.rcpts_received():
        check_relayed(data, msg)


def test_aaaa_only_mx_host(outbound):
    # mx1.six.test has only an AAAA record (::1); the fake MX listens on
    # [::1] at the common port.
    from fake_mx import FakeMX
    import socket
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::1", outbound.port))
    except OSError:
        pytest.fail(f"[::1]:{outbound.port} is not free for the IPv6 MX")
    finally:
        s.close()
    mx = FakeMX("::1", outbound.port).start()
    outbound.servers["::1"] = mx
    outbound.dns.zone("six.test")
    outbound.dns.record("six.test", "MX", "10 mx1.six.test.")
    outbound.dns.record("mx1.six.test", "AAAA", "::1")
    outbound.start()
    msg = message("over IPv6", "x@six.test")
    assert submit(outbound.d, "alice", ["x@six.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    check_relayed(t.data, msg)


def test_utf8_domain_looked_up_by_a_label(outbound):
    mx = outbound.fake_mx(IP[0], smtputf8=True)
    alabel = "bücher.test".encode("idna").decode()  # xn--bcher-kva.test
    outbound.domain(alabel, [IP[0]])
    outbound.start()
    msg = ("From: <alice@example.test>\r\nTo: <jörg@bücher.test>\r\n"
           "Subject: IDN\r\nMessage-ID: <idn-1@example.test>\r\n"
           "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nHallo.\r\n"
           ).encode()
    assert submit(outbound.d, "alice", ["jörg@bücher.test"], msg,
                  mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    assert t.rcpts == ["jörg@bücher.test"], t.rcpts
    check_relayed(t.data, msg)


def test_150_recipients_one_domain(outbound):
    mx = outbound.fake_mx(IP[0])
    outbound.domain("wide.test", [IP[0]])
    outbound.start()
    rcpts = [f"user{i:03d}@wide.test" for i in range(150)]
    msg = message("to 150", rcpts[0])
    assert submit(outbound.d, "alice", rcpts, msg) == {}
    wait_queue_empty(outbound.d, 60)
    got = sorted(r for r, _ in mx.rcpts_received())
    assert got == rcpts
    for t in mx.received():
        check_relayed(t.data, msg)
    assert reports(outbound.d, "alice") == []


def test_421_after_rcpt_then_success(outbound):
    seen = {"n": 0}

    def beh(phase, arg, mx):
        if phase == "DATA":
            seen["n"] += 1
            if seen["n"] == 1:
                return "421 4.3.2 Shutting down"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("t.test", [IP[0]])
    outbound.start()
    msg = message("421 once", "x@t.test")
    assert submit(outbound.d, "alice", ["x@t.test", "y@t.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert seen["n"] >= 2
    assert sorted(r for r, _ in mx.rcpts_received()) == ["x@t.test",
                                                         "y@t.test"]
    assert reports(outbound.d, "alice") == []


def test_starttls_off_sends_in_clear(outbound):
    # outbound.starttls = false: the offered STARTTLS is not used (and the
    # fake MX's TLS detection is seen to tell the two apart).
    mx = outbound.fake_mx(IP[0], starttls=True)
    outbound.domain("tls.test", [IP[0]])
    outbound.start(outbound={"starttls": False})
    msg = message("in clear", "x@tls.test")
    assert submit(outbound.d, "alice", ["x@tls.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    assert not t.tls
    check_relayed(t.data, msg)


def test_bounce_read_over_imap(outbound):
    from conftest import wait_imap
    from imap_util import session
    outbound.fake_mx(IP[0], lambda p, a, mx: "550 5.1.1 No such user"
                     if p == "RCPT" else None)
    outbound.domain("p.test", [IP[0]])
    outbound.start()
    wait_imap(outbound.d)
    assert submit(outbound.d, "alice", ["x@p.test"],
                  message("seen over IMAP", "x@p.test")) == {}
    wait_queue_empty(outbound.d, 60)
    wait_reports(outbound.d, "alice", 1, 30)
    c = session(outbound.d, "alice")
    try:
        c.ok("SELECT", "INBOX")
        r = c.ok("UID FETCH 1:* (UID BODYSTRUCTURE BODY.PEEK[])")
        (f,) = r.fetches().values()
        raw = f["BODY[]"]
        m = email.message_from_bytes(raw)
        assert m.get_content_type() == "multipart/report"
        bs = repr(f["BODYSTRUCTURE"]).upper()
        assert "REPORT" in bs and "DELIVERY-STATUS" in bs, bs
    finally:
        c.close()


def test_lifetime_expiry_unreachable_host(outbound):
    # mx1.down.test has no listener: every attempt fails to connect.
    outbound.domain("down.test", [IP[9]])
    outbound.start(queue={"delay_notice_seconds": 0})
    assert submit(outbound.d, "alice", ["x@down.test"],
                  message("never reachable", "x@down.test")) == {}

    def attempts():
        rows = queue_rows_for(outbound.d, "x@down.test")
        if not rows:
            return 0
        show = outbound.d.cli("queue", "show", str(rows[0][0])).stdout
        m = re.search(rb"attempts\W+(\d+)", show, re.I)
        return int(m.group(1)) if m else 0
    wait_for(lambda: attempts() >= 2, 30, "two attempts")
    outbound.advance_clock(6 * 86400)
    wait_queue_empty(outbound.d, 30)
    (_, m), = wait_reports(outbound.d, "alice", 1, 30)
    _, _, per_rcpt, _ = report_parts(m)
    f, = per_rcpt
    assert f["Action"].strip().lower() == "failed"
    assert f["Status"].strip() in ("4.4.7", "5.4.7"), f.items()


def test_queue_commands_while_stopped_and_after_restart(outbound):
    mode = {"ok": False}

    def beh(phase, arg, mx):
        if phase == "RCPT" and not mode["ok"]:
            return "451 4.3.0 Not now"
        return None
    mx = outbound.fake_mx(IP[0], beh)
    outbound.domain("r.test", [IP[0]])
    outbound.start(queue={"retry_min_seconds": 600,
                          "retry_max_seconds": 3600})
    d = outbound.d
    assert submit(d, "alice", ["a@r.test", "b@r.test"],
                  message("restart", "a@r.test")) == {}
    wait_for(lambda: sum(len(t.rcpt_args) for s in mx.real_sessions()
                         for t in s.transactions) >= 2, 30, "first attempts")
    d.stop()
    ida = queue_rows_for(d, "a@r.test")[0][0]
    idb = queue_rows_for(d, "b@r.test")[0][0]
    d.cli("queue", "hold", str(idb))
    d.cli("queue", "flush")
    mode["ok"] = True
    d.start()
    wait_for(lambda: [r for r, _ in mx.rcpts_received()] == ["a@r.test"],
             15, "a delivered after restart")
    time.sleep(2.5)
    assert [r for r, _ in mx.rcpts_received()] == ["a@r.test"]
    assert queue_rows_for(d, "a@r.test") == []
    d.cli("queue", "release", str(idb))
    d.cli("queue", "retry", str(idb))
    wait_queue_empty(d, 15)
    assert sorted(r for r, _ in mx.rcpts_received()) == ["a@r.test",
                                                         "b@r.test"]
    assert ida != idb


def test_bdat_message_without_final_crlf_goes_out_terminated(outbound):
    from outbound_util import submission
    mx = outbound.fake_mx(IP[0])
    outbound.domain("e.test", [IP[0]])
    outbound.start()
    msg = message("no final CRLF", "x@e.test", body="last line, no CRLF")
    with submission(outbound.d, "alice") as c:
        assert "chunking" in c.esmtp_features
        assert c.mail(addr("alice"))[0] == 250
        assert c.rcpt("x@e.test")[0] == 250
        c.send(f"BDAT {len(msg)} LAST\r\n".encode() + msg)
        code, resp = c.getreply()
        assert code == 250, resp
    wait_queue_empty(outbound.d, 60)
    t, = mx.received()
    # The remote got the message with its last line ended (DATA needs it);
    # no bare CR or LF anywhere.
    check_relayed(t.data, msg + b"\r\n")


def test_dns_failure_is_temporary(outbound):
    # The resolver refuses every query for flaky.test (SERVFAIL to
    # despatch): retried, never bounced.
    outbound.dns.zones.add("flaky.test.")
    outbound.start()
    text = outbound.dns.config_text().replace(
        'local-zone: "flaky.test." static',
        'local-zone: "flaky.test." always_refuse')
    assert "always_refuse" in text
    # Restart unbound on its port with the refusing zone.
    port = outbound.dns.port
    outbound.dns.stop()
    (outbound.dns.dir / "unbound.conf").write_text(text)
    import subprocess
    outbound.dns._log = open(outbound.dns.log_path, "ab")
    outbound.dns.proc = subprocess.Popen(
        ["/usr/sbin/unbound", "-d", "-c",
         str(outbound.dns.dir / "unbound.conf")],
        stdin=subprocess.DEVNULL, stdout=outbound.dns._log,
        stderr=outbound.dns._log)
    from dns_server import dns_query
    wait_for(lambda: dns_query(port, "x.test", "A", 0.5) is not None, 10,
             "unbound back on its port")
    assert submit(outbound.d, "alice", ["x@flaky.test"],
                  message("dns trouble", "x@flaky.test")) == {}

    def attempts():
        rows = queue_rows_for(outbound.d, "x@flaky.test")
        if not rows:
            return -1
        show = outbound.d.cli("queue", "show", str(rows[0][0])).stdout
        m = re.search(rb"attempts\W+(\d+)", show, re.I)
        return int(m.group(1)) if m else 0
    wait_for(lambda: attempts() >= 2 or attempts() < 0, 40,
             "two attempts")
    assert attempts() >= 2, "the row left the queue on a DNS failure"
    assert outbound.d.uids("alice") == []


def test_mx_preference_order_not_record_order(outbound):
    high = outbound.fake_mx(IP[0])  # preference 20, listed first
    low = outbound.fake_mx(IP[1])   # preference 10
    outbound.dns.zone("pref.test")
    outbound.dns.record("pref.test", "MX", "20 mxb.pref.test.")
    outbound.dns.record("pref.test", "MX", "10 mxa.pref.test.")
    outbound.dns.record("mxb.pref.test", "A", IP[0])
    outbound.dns.record("mxa.pref.test", "A", IP[1])
    outbound.start()
    for k in range(3):
        assert submit(outbound.d, "alice", [f"x{k}@pref.test"],
                      message(f"pref {k}", f"x{k}@pref.test")) == {}
    wait_queue_empty(outbound.d, 60)
    assert sorted(r for r, _ in low.rcpts_received()) == \
        ["x0@pref.test", "x1@pref.test", "x2@pref.test"]
    assert high.real_sessions() == []
