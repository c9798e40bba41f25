# SPDX-License-Identifier: MIT
"""IMAP mailboxes: SELECT/EXAMINE, LIST (special-use, LIST-EXTENDED,
LIST-STATUS, CHILDREN), CREATE/DELETE/RENAME with hierarchy, non-ASCII names
(modified UTF-7 for rev1, UTF-8 for rev2), SUBSCRIBE/LSUB, STATUS (SIZE),
QUOTA, UNSELECT and CLOSE."""
import re

from imap_util import (Imap, Literal, Str, append, deliver, imap_port,
                       mutf7_encode, qmb, quote, s, session, simple_msg)

SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
           "Junk": "\\Junk", "Archive": "\\Archive"}


def listing(result, kind="LIST"):
    """{name: (set of upper-case attributes, delimiter)} of LIST/LSUB
    responses."""
    out = {}
    for r in result.of(kind):
        attrs, delim, name = r.tokens[2], r.tokens[3], r.tokens[4]
        out[s(name)] = ({str(a).upper() for a in attrs}, delim)
    return out


def statuses(result):
    """{mailbox: {ITEM: int}} of STATUS responses."""
    out = {}
    for r in result.of("STATUS"):
        name, items = s(r.tokens[2]), r.tokens[3]
        out[name] = {str(items[i]).upper(): int(items[i + 1])
                     for i in range(0, len(items), 2)}
    return out


def test_select_responses(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(3)])
    c = session(imap_server, rev2=rev2)
    r = c.select("INBOX")
    assert r.code("READ-WRITE") is not None, r
    exists = [int(u.tokens[1]) for u in r.of("EXISTS")]
    assert exists == [3], r
    recent = [int(u.tokens[1]) for u in r.of("RECENT")]
    if rev2:
        assert recent == [], "rev2 has no RECENT response: %r" % r
    else:
        assert recent == [3], r
    flags = r.of("FLAGS")
    assert flags, r
    fl = {str(f).upper() for f in flags[0].tokens[2]}
    assert {"\\SEEN", "\\ANSWERED", "\\FLAGGED", "\\DELETED",
            "\\DRAFT"} <= fl, flags[0]
    uidvalidity = int(r.untagged_code("UIDVALIDITY"))
    assert uidvalidity > 0
    assert int(r.untagged_code("UIDNEXT")) == 4, r
    perm = r.untagged_code("PERMANENTFLAGS")
    assert perm is not None and "\\*" in perm and "\\Seen" in perm, r
    if not rev2:
        unseen = r.untagged_code("UNSEEN")
        assert unseen is not None and int(unseen) == 1, r
    # UIDVALIDITY is stable across sessions; a second rev1 SELECT sees no
    # message as recent any more.
    c2 = session(imap_server)
    r2 = c2.select("INBOX")
    assert int(r2.untagged_code("UIDVALIDITY")) == uidvalidity
    assert [int(u.tokens[1]) for u in r2.of("RECENT")] in ([0], []), r2
    c.close()
    c2.close()


def test_examine_is_read_only(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(1)])
    c = session(imap_server, rev2=rev2)
    r = c.ok("EXAMINE INBOX")
    assert r.code("READ-ONLY") is not None, r
    # Fetching the body does not set \Seen in a read-only mailbox, and
    # STORE is refused.
    c.ok("FETCH 1 BODY[]")
    r = c.ok("FETCH 1 FLAGS")
    assert "\\Seen" not in r.fetches()[1]["FLAGS"], r
    # STORE may be refused (NO) or ignored (OK), but changes nothing.
    r = c.cmd("STORE 1 +FLAGS (\\Flagged)")
    assert r.status in ("NO", "OK"), r
    r = c.ok("FETCH 1 FLAGS")
    assert "\\Flagged" not in r.fetches()[1]["FLAGS"], r
    c.close()


def test_select_missing_mailbox(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    r = c.cmd("SELECT Nonexistent")
    assert r.status == "NO", r
    # A failed SELECT leaves no mailbox selected.
    r = c.cmd("FETCH 1 FLAGS")
    assert r.status == "BAD", r
    c.close()


def test_list_new_user_special_use(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    lst = listing(c.ok('LIST "" "*"'))
    assert set(lst) == {"INBOX", *SPECIAL}, lst
    assert all(d == "/" for _, d in lst.values()), lst
    ext = listing(c.ok('LIST "" "*" RETURN (SPECIAL-USE)'))
    for name, use in SPECIAL.items():
        assert use.upper() in ext[name][0], (name, ext[name])
    only = listing(c.ok('LIST (SPECIAL-USE) "" "*"'))
    assert set(only) == set(SPECIAL), only
    # The hierarchy delimiter query.
    r = c.ok('LIST "" ""')
    lst = r.of("LIST")
    assert len(lst) == 1 and lst[0].tokens[3] == "/", r
    # INBOX is case-insensitive.
    r = c.ok('LIST "" "inbox"')
    assert [s(u.tokens[4]) for u in r.of("LIST")] == ["INBOX"], r
    c.close()


def test_list_status(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(2)])
    c = session(imap_server, rev2=rev2)
    r = c.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')
    st = statuses(r)
    assert st["INBOX"] == {"MESSAGES": 2, "UNSEEN": 2, "UIDNEXT": 3}, st
    assert st["Trash"]["MESSAGES"] == 0, st
    assert set(listing(r)) == set(st), r
    c.close()


def test_list_children_and_hierarchy(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("CREATE Projects/2026/Q1")
    c.ok("CREATE Projects/Other")
    lst = listing(c.ok('LIST "" "*" RETURN (CHILDREN)'))
    # Superior names are created as needed.
    for name in ("Projects", "Projects/2026", "Projects/2026/Q1",
                 "Projects/Other"):
        assert name in lst, (name, lst)
    assert "\\HASCHILDREN" in lst["Projects"][0], lst
    assert "\\HASCHILDREN" in lst["Projects/2026"][0], lst
    assert "\\HASNOCHILDREN" in lst["Projects/2026/Q1"][0], lst
    assert "\\HASNOCHILDREN" in lst["INBOX"][0], lst
    # "%" stops at the delimiter, "*" does not.
    top = listing(c.ok('LIST "" "Projects/%"'))
    assert set(top) == {"Projects/2026", "Projects/Other"}, top
    ref = listing(c.ok('LIST "Projects/" "*"'))
    assert set(ref) == {"Projects/2026", "Projects/2026/Q1",
                        "Projects/Other"}, ref
    c.close()


def test_create_delete_rename(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("CREATE Work")
    assert c.cmd("CREATE Work").status == "NO"
    assert c.cmd("CREATE INBOX").status == "NO"
    append(c, "Work", simple_msg(1))
    c.ok("CREATE Work/Sub")
    c.ok("RENAME Work Job")
    lst = listing(c.ok('LIST "" "*"'))
    assert "Job" in lst and "Job/Sub" in lst, lst
    assert "Work" not in lst and "Work/Sub" not in lst, lst
    st = statuses(c.ok("STATUS Job (MESSAGES)"))
    assert st["Job"]["MESSAGES"] == 1, st
    c.ok("CREATE Taken")
    assert c.cmd("RENAME Job Taken").status == "NO"  # exists
    c.ok("DELETE Taken")
    assert c.cmd("RENAME Nope Other").status == "NO"  # missing
    c.ok("DELETE Job/Sub")
    assert c.cmd("DELETE Job/Sub").status == "NO"
    assert c.cmd("DELETE INBOX").status == "NO"
    c.ok("DELETE Job")
    lst = listing(c.ok('LIST "" "*"'))
    assert set(lst) == {"INBOX", *SPECIAL}, lst
    # A deleted name can be created again, empty, with a new UIDVALIDITY
    # or at least without the old messages.
    c.ok("CREATE Job")
    st = statuses(c.ok("STATUS Job (MESSAGES)"))
    assert st["Job"]["MESSAGES"] == 0, st
    c.close()


def test_rename_inbox_moves_messages(imap_server):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(2)])
    c = session(imap_server)
    c.ok("RENAME INBOX Old")
    st = statuses(c.ok("STATUS Old (MESSAGES)"))
    assert st["Old"]["MESSAGES"] == 2, st
    st = statuses(c.ok("STATUS INBOX (MESSAGES)"))
    assert st["INBOX"]["MESSAGES"] == 0, st
    c.close()


def test_non_ascii_names_both_grammars(imap_server):
    name1 = "Été/Привет"
    name2 = "日本語 & more"
    v1 = session(imap_server)
    v2 = session(imap_server, rev2=True)
    # rev1 creates in modified UTF-7; rev2 sees UTF-8.
    v1.ok("CREATE", quote(mutf7_encode(name1)))
    names2 = listing(v2.ok('LIST "" "*"'))
    assert name1 in names2 and "Été" in names2, names2
    names1 = listing(v1.ok('LIST "" "*"'))
    assert mutf7_encode(name1) in names1, names1
    assert mutf7_encode("Été") in names1, names1
    # rev2 creates in UTF-8 (quoted, 8-bit); rev1 sees modified UTF-7.
    v2.ok("CREATE", quote(name2))
    names1 = listing(v1.ok('LIST "" "*"'))
    assert mutf7_encode(name2) in names1, names1
    names2 = listing(v2.ok('LIST "" "*"'))
    assert name2 in names2, names2
    # Both select and append by their own spelling.
    append(v1, mutf7_encode(name2), simple_msg(1))
    r = v2.ok("SELECT", quote(name2))
    assert [int(u.tokens[1]) for u in r.of("EXISTS")] == [1], r
    st = statuses(v1.ok("STATUS", quote(mutf7_encode(name1)),
                        "(MESSAGES)"))
    assert st == {mutf7_encode(name1): {"MESSAGES": 0}}, st
    # A rev1 name that is not valid modified UTF-7 is refused.
    r = v1.cmd("CREATE", quote("bad&name"))
    assert r.status in ("NO", "BAD"), r
    v1.close()
    v2.close()


def test_subscribe_lsub_list_subscribed(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("CREATE Work")
    c.ok("CREATE Other")
    c.ok("SUBSCRIBE Work")
    sub = listing(c.ok('LIST (SUBSCRIBED) "" "*"'))
    assert "Work" in sub and "Other" not in sub, sub
    assert "\\SUBSCRIBED" in sub["Work"][0], sub
    ret = listing(c.ok('LIST "" "*" RETURN (SUBSCRIBED)'))
    assert "\\SUBSCRIBED" in ret["Work"][0], ret
    assert "\\SUBSCRIBED" not in ret["Other"][0], ret
    if not rev2:
        ls = listing(c.ok('LSUB "" "*"'), "LSUB")
        assert "Work" in ls and "Other" not in ls, ls
    c.ok("UNSUBSCRIBE Work")
    sub = listing(c.ok('LIST (SUBSCRIBED) "" "*"'))
    assert "Work" not in sub, sub
    # A subscription survives the mailbox's deletion as \NonExistent.
    c.ok("SUBSCRIBE Other")
    c.ok("DELETE Other")
    sub = listing(c.ok('LIST (SUBSCRIBED) "" "*"'))
    assert "Other" in sub and "\\NONEXISTENT" in sub["Other"][0], sub
    c.close()


def test_status(imap_server, rev2):
    msgs = [simple_msg(i, body="x" * (100 * i) + "\r\n") for i in range(3)]
    deliver(imap_server, "alice", msgs)
    c = session(imap_server, rev2=rev2)
    items = "MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ"
    items += " DELETED" if rev2 else " RECENT"
    st = statuses(c.ok(f"STATUS INBOX ({items})"))["INBOX"]
    assert st["MESSAGES"] == 3 and st["UIDNEXT"] == 4, st
    assert st["UNSEEN"] == 3 and st["UIDVALIDITY"] > 0, st
    assert st["HIGHESTMODSEQ"] > 0, st
    c.select("INBOX")
    r = c.ok("FETCH 1:* RFC822.SIZE")
    total = sum(int(f["RFC822.SIZE"]) for f in r.fetches().values())
    assert st["SIZE"] == total, (st, total)
    c.ok("STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)")
    st2 = statuses(c.ok(f"STATUS INBOX ({items})"))["INBOX"]
    assert st2["UNSEEN"] == 2 and st2["HIGHESTMODSEQ"] > st[
        "HIGHESTMODSEQ"], st2
    if rev2:
        assert st["DELETED"] == 0 and st2["DELETED"] == 1, (st, st2)
    assert c.cmd("STATUS Nope (MESSAGES)").status == "NO"
    c.close()


def test_quota(despatch):
    text = despatch.config_path().read_text()
    text, n1 = re.subn(r"quota_bytes\s*=\s*\"?\d+[KMG]?\"?;",
                       "quota_bytes = 1048576;", text)
    text, n2 = re.subn(r"quota_messages\s*=\s*\"?\d+\"?;",
                       "quota_messages = 5;", text)
    assert n1 == n2 == 1, text
    despatch.config_path().write_text(text)
    despatch.start()
    from conftest import wait_imap
    wait_imap(despatch)
    deliver(despatch, "alice", [simple_msg(i, body="y" * 3000 + "\r\n")
                                for i in range(2)])
    c = session(despatch)
    r = c.ok("GETQUOTAROOT INBOX")
    roots = r.of("QUOTAROOT")
    assert roots and s(roots[0].tokens[2]) == "INBOX", r
    assert len(roots[0].tokens) >= 4, r  # INBOX has a quota root
    q = r.of("QUOTA")
    assert q, r
    res = q[0].tokens[3]
    d = {str(res[i]).upper(): (int(res[i + 1]), int(res[i + 2]))
         for i in range(0, len(res), 3)}
    assert d["STORAGE"][1] == 1024, d  # units of 1024 octets
    assert 6 <= d["STORAGE"][0] <= 8, d
    assert d["MESSAGE"] == (2, 5), d
    r = c.ok("GETQUOTA", quote(s(roots[0].tokens[3])))
    # APPEND past the message count gets NO [OVERQUOTA].
    for i in range(3):
        append(c, "INBOX", simple_msg(10 + i))
    r = c.cmd("APPEND INBOX", Literal(simple_msg(20)))
    assert r.status == "NO" and r.code("OVERQUOTA") is not None, r
    c.close()


def test_unselect_and_close(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(3)])
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = c.ok("UNSELECT")
    assert not r.of("EXPUNGE"), r
    assert c.cmd("FETCH 1 FLAGS").status == "BAD"
    st = statuses(c.ok("STATUS INBOX (MESSAGES)"))
    assert st["INBOX"]["MESSAGES"] == 3, st
    c.select("INBOX")
    r = c.ok("CLOSE")
    assert not r.of("EXPUNGE"), r  # CLOSE expunges silently
    st = statuses(c.ok("STATUS INBOX (MESSAGES)"))
    assert st["INBOX"]["MESSAGES"] == 2, st
    # SELECT of another mailbox while one is selected: rev2 and QRESYNC
    # announce [CLOSED]; either way the new one is selected.
    c.select("INBOX")
    r = c.select("Trash")
    if rev2:
        assert r.untagged_code("CLOSED") is not None, r
    assert [int(u.tokens[1]) for u in r.of("EXISTS")] == [0], r
    c.close()
