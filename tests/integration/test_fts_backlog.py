# SPDX-License-Identifier: MIT
"""The full-text index is filled after the 250, so an admin can watch its
backlog in `despatch store stats` (fts_pending), see it drain, and a client's
SEARCH BODY finds mail whether or not it has been indexed yet."""
import time

from imap_util import deliver_fast, session, simple_msg


def test_backlog_drains_and_search_finds_all(imap_server):
    msgs = [simple_msg(i, body=f"quokka{i % 3} ordinary words here\r\n")
            for i in range(300)]
    deliver_fast(imap_server, "alice", msgs)
    c = session(imap_server)
    c.select("INBOX")
    # Right after delivery: whatever the indexer has done so far, the
    # answer is complete (queued messages are scanned).
    r = c.ok("UID SEARCH BODY QUOKKA1")
    hits = [int(x) for x in r.of("SEARCH")[0].tokens[2:]]
    assert len(hits) == 100, r
    deadline = time.monotonic() + 60
    while True:
        st = imap_server.stats()
        assert "fts_pending" in st, st
        if st["fts_pending"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert st["fts_pending"] == 0, st
    r = c.ok("UID SEARCH BODY quokka1")
    assert [int(x) for x in r.of("SEARCH")[0].tokens[2:]] == hits, r
    c.ok("LOGOUT")
