# SPDX-License-Identifier: MIT
"""A graceful restart keeps everything, and UIDs keep ascending."""
import smtplib

from conftest import HOST, strip_trace
from msgs import addr, plain


def send(server, msgs, user="alice"):
    with smtplib.SMTP(HOST, server.port, timeout=60) as c:
        c.ehlo()
        for m in msgs:
            assert c.sendmail("r@example.org", [addr(user)], m) == {}


def test_restart_keeps_everything(server):
    first = [plain(f"before restart {i}", f"Body {i}.\r\n") for i in range(3)]
    send(server, first)
    uids_before = server.uids("alice")
    assert len(uids_before) == 3
    stats_before = server.stats()

    rc = server.stop()
    assert rc == 0, f"serve exited {rc} on SIGTERM"
    server.start()

    assert server.uids("alice") == uids_before
    for uid, m in zip(uids_before, first):
        assert strip_trace(server.cat("alice", uid))[2] == m
    stats = server.stats()
    for k in ("messages", "logical_bytes", "unique_parts", "physical_bytes"):
        assert stats[k] == stats_before[k], (k, stats_before, stats)

    second = [plain(f"after restart {i}", f"Later {i}.\r\n") for i in range(2)]
    send(server, second)
    uids = server.uids("alice")
    assert len(uids) == 5
    new = uids[3:]
    assert min(new) > max(uids_before), (uids_before, new)
    assert new == sorted(new) and len(set(uids)) == 5
    for uid, m in zip(new, second):
        assert strip_trace(server.cat("alice", uid))[2] == m
    assert server.stats()["messages"] == 5
    v = server.verify()
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
