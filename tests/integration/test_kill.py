# SPDX-License-Identifier: MIT
"""The kill test: 10 concurrent senders while the server is SIGKILLed at
random moments and restarted; afterwards every message that got 250 is
present and byte-identical, and `store verify` is clean."""
import concurrent.futures
import random
import re
import smtplib
import threading
import time

from conftest import HOST, record_figure, strip_trace
from msgs import addr, multipart_with_attachment, plain

SENDERS = 10
KILLS = 9
PER_SENDER_MAX = 200  # bounds the verification work
PACE = 0.15  # seconds between a sender's messages, so they span the kills
USERS = ("alice", "bob", "carol")
SEED = 4242


def message(rng, attachments, n, sender):
    if rng.random() < 0.3:
        data = attachments[rng.randrange(len(attachments))]
        return multipart_with_attachment(
            f"kill test {n}", data, rng.choice((76, 72)), sender=sender,
            text=f"attachment message {n}\r\n")
    lines = rng.randrange(1, 200)
    body = "".join(f"line {k} of message {n}\r\n" for k in range(lines))
    return plain(f"kill test {n}", body, sender=sender)


def sender_loop(idx, port, stop, acked, stats, lock):
    rng = random.Random(SEED + idx)
    attachments = [random.Random(SEED * 10 + k).randbytes(64 * 1024)
                   for k in range(3)]
    sender = f"sender{idx}@example.org"
    conn = None
    n = 0
    while not stop.is_set() and n < PER_SENDER_MAX:
        if conn is None:
            try:
                conn = smtplib.SMTP(HOST, port, timeout=20,
                                    local_hostname=f"s{idx}.example.org")
                conn.ehlo()
            except (OSError, smtplib.SMTPException):
                conn = None
                stop.wait(0.05)
                continue
        n += 1
        t_next = time.monotonic() + PACE
        user = rng.choice(USERS)
        msg = message(rng, attachments, f"{idx}.{n}", sender)
        tok = re.search(rb"Message-ID: <([0-9a-f]+)@", msg).group(1)
        try:
            refused = conn.sendmail(sender, [addr(user)], msg)
            ok = refused == {}
        except (OSError, smtplib.SMTPException):
            ok = False
        with lock:
            stats["attempts"] += 1
            if ok:
                acked.append((user, tok, sender, msg))
            else:
                stats["unacked"] += 1
        if not ok:
            try:
                conn.close()
            except Exception:
                pass
            conn = None
        stop.wait(max(0.0, t_next - time.monotonic()))
    if conn is not None:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass


def test_kill_under_load(server):
    rng = random.Random(SEED)
    stop = threading.Event()
    lock = threading.Lock()
    acked = []
    stats = {"attempts": 0, "unacked": 0}
    threads = [threading.Thread(target=sender_loop, daemon=True,
                                args=(i, server.port, stop, acked, stats,
                                      lock))
               for i in range(SENDERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    kills = 0
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.5))
            server.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.3))
            server.start()
        time.sleep(1.5)  # some traffic after the last restart
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads), "a sender hung"
    send_secs = time.monotonic() - t0
    rc = server.stop()
    assert rc == 0, f"serve exited {rc} on SIGTERM"

    # Everything stored, by token.
    def cat(user, uid):
        return user, server.cat(user, uid)

    stored = {}
    jobs = [(u, uid) for u in USERS for uid in server.uids(u)]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for user, data in ex.map(lambda j: cat(*j), jobs):
            m = re.search(rb"Message-ID: <([0-9a-f]+)@", data)
            assert m, data[:500]
            stored.setdefault((user, m.group(1)), []).append(data)

    lost, differ = [], []
    for user, tok, sender, msg in acked:
        copies = stored.get((user, tok))
        if not copies:
            lost.append(tok)
            continue
        ok = False
        for data in copies:
            rp, _, rest = strip_trace(data)
            if rest == msg and rp == f"Return-Path: <{sender}>\r\n".encode():
                ok = True
        if not ok:
            differ.append(tok)
    v = server.verify()
    record_figure(
        "kill",
        f"{SENDERS} senders for {send_secs:.1f}s, {kills} SIGKILLs: "
        f"{stats['attempts']} attempts, {len(acked)} acknowledged (250), "
        f"{len(lost)} acknowledged but lost, {len(differ)} acknowledged "
        f"but different, {stats['unacked']} not acknowledged, "
        f"{len(jobs)} messages stored; store verify exit {v.returncode}")
    assert kills >= 8
    assert len(acked) > 0, "no message was acknowledged at all"
    assert not lost, f"{len(lost)} acknowledged messages lost"
    assert not differ, f"{len(differ)} acknowledged messages differ"
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
