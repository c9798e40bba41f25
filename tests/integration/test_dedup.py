# SPDX-License-Identifier: MIT
"""De-duplication: 50 messages carrying the same 5 MB PDF, wrapped by
different clients at 76 or 72 characters, three recipients each, different
senders and subjects, cost well under two copies of the PDF on disk, and
every message still comes back byte for byte."""
import smtplib

from conftest import HOST, record_figure, strip_trace
from msgs import addr, multipart_with_attachment, pseudo_pdf

PDF_SIZE = 5 * 1024 * 1024
N_MESSAGES = 50
RCPTS = ("alice", "bob", "carol")


def test_same_pdf_stored_once(server):
    pdf = pseudo_pdf(PDF_SIZE, seed=20260101)
    before = server.stats()
    sent = []
    with smtplib.SMTP(HOST, server.port, local_hostname="dedup.example.org",
                      timeout=300) as c:
        c.ehlo()
        for i in range(N_MESSAGES):
            width = 76 if i % 2 == 0 else 72
            sender = f"clerk{i}@office{i % 7}.example.org"
            msg = multipart_with_attachment(
                f"Quarterly report, copy {i} ({width})", pdf, width,
                sender=sender, to="alice",
                text=f"Dear colleagues, message {i} from {sender}.\r\n")
            refused = c.sendmail(sender, [addr(u) for u in RCPTS], msg)
            assert refused == {}
            sent.append((sender, msg))
    after = server.stats()
    grown = after["physical_bytes"] - before["physical_bytes"]
    logical = after["logical_bytes"] - before["logical_bytes"]
    record_figure(
        "dedup",
        f"{N_MESSAGES} messages x {len(RCPTS)} recipients carrying one "
        f"{PDF_SIZE} byte PDF (base64 wrapped at 76/72): physical_bytes "
        f"grew by {grown} ({grown / PDF_SIZE:.3f}x the PDF), logical_bytes "
        f"grew by {logical}, messages {after['messages']}, unique_parts "
        f"{after['unique_parts']}")
    assert after["messages"] - before["messages"] == N_MESSAGES
    assert grown < 2 * PDF_SIZE, f"physical bytes grew by {grown}"
    assert logical >= N_MESSAGES * PDF_SIZE  # base64 is larger still

    for u in RCPTS:
        uids = server.uids(u)
        assert len(uids) == N_MESSAGES, (u, len(uids))
    uids = server.uids("alice")
    for uid, (sender, msg) in zip(uids, sent):
        rp, _, rest = strip_trace(server.cat("alice", uid))
        assert rp == f"Return-Path: <{sender}>\r\n".encode()
        assert rest == msg, f"alice uid {uid} differs from what was sent"
    # The other mailboxes hold the same messages.
    for u in ("bob", "carol"):
        last = server.uids(u)[-1]
        assert strip_trace(server.cat(u, last))[2] == sent[-1][1]
    v = server.verify()
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
