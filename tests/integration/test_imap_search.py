# SPDX-License-Identifier: MIT
"""IMAP SEARCH (flags, dates, sizes, header and full-text keys, UTF-8 and
case-insensitive, OR/NOT, sequence and UID sets), ESEARCH RETURN options and
SEARCHRES ($), SORT and ESORT, THREAD REFERENCES and ORDEREDSUBJECT."""
import pytest

from imap_util import (Literal, append, expand, s, session)

BIG = "lorem ipsum dolor sit amet " * 2300 + "zanzibar\r\n"

# (internal date, flags, header lines, body, extra MIME headers)
CORPUS = [
    ("05-Jan-2026 12:00:00 +0000", ["\\Seen"],
     ["From: Alice Example <alice@example.org>", "To: bob@example.test",
      "Subject: Quarterly report", "Date: Mon, 05 Jan 2026 10:00:00 +0000",
      "Message-ID: <s1@example.org>", "X-Tag: alpha"],
     "The numbers are in.\r\n"),
    ("15-Feb-2026 12:00:00 +0000", ["\\Flagged"],
     ["From: bob@example.org", "To: alice@example.test",
      "Cc: carol@example.org", "Subject: Lunch on Friday",
      "Date: Sun, 15 Feb 2026 11:00:00 +0000",
      "Message-ID: <s2@example.org>"],
     "Pizza or sushi?\r\n"),
    ("01-Mar-2026 12:00:00 +0000", ["\\Seen", "\\Answered", "$Work"],
     ["From: =?utf-8?q?J=C3=BCrgen_Gro=C3=9F?= <jg@example.de>",
      "To: alice@example.test",
      "Subject: =?utf-8?q?=C3=9Cber_die_Gr=C3=B6=C3=9Fe?=",
      "Date: Sun, 01 Mar 2026 09:00:00 +0100",
      "Message-ID: <s3@example.org>", "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable"],
     "Ein Caf=C3=A9 mit Cr=C3=A8me br=C3=BBl=C3=A9e.\r\n"),
    ("10-Mar-2026 12:00:00 +0000", [],
     ["From: carol@example.org", "To: alice@example.test",
      "Subject: Big attachment", "Date: Sat, 10 Jan 2026 08:00:00 +0000",
      "Message-ID: <s4@example.org>"],
     BIG),
    ("20-Mar-2026 12:00:00 +0000", ["\\Deleted"],
     ["From: dave@example.org", "To: alice@example.test",
      "Subject: Re: Quarterly report",
      "Date: Fri, 20 Mar 2026 16:00:00 +0000",
      "Message-ID: <s5@example.org>", "In-Reply-To: <s1@example.org>",
      "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit"],
     "I disagree with THE NUMBERS. Grüße.\r\n"),
]


def build(headers, body):
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


@pytest.fixture
def corpus(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("CREATE S")
    for date, flags, headers, body in CORPUS:
        append(c, "S", build(headers, body), flags=flags, date=date)
    c.select("S")
    c.rev2 = rev2
    yield c
    c.close()


def search(c, criteria, uid=True, charset=None):
    """The matching numbers of a SEARCH (rev1 "* SEARCH" or rev2
    "* ESEARCH ... ALL set"), sorted; criteria is a list of parts."""
    parts = ["UID SEARCH" if uid else "SEARCH"]
    if charset:
        parts += ["CHARSET", charset]
    r = c.ok(*parts, *criteria)
    return numbers(r)


def numbers(r):
    out, seen = [], 0
    for u in r.untagged:
        t = u.tokens
        if u.kind() in ("SEARCH", "SORT"):
            seen += 1
            out += [int(x) for x in t[2:] if not isinstance(x, list)]
        elif u.kind() == "ESEARCH":
            seen += 1
            for i, x in enumerate(t):
                if str(x).upper() == "ALL":
                    out += expand(str(t[i + 1]))
    assert seen == 1, r
    return out


CASES = [
    (["ALL"], [1, 2, 3, 4, 5]),
    (["SEEN"], [1, 3]),
    (["UNSEEN"], [2, 4, 5]),
    (["FLAGGED"], [2]),
    (["ANSWERED"], [3]),
    (["DELETED"], [5]),
    (["UNDELETED"], [1, 2, 3, 4]),
    (["DRAFT"], []),
    (["KEYWORD", "$Work"], [3]),
    (["UNKEYWORD", "$Work"], [1, 2, 4, 5]),
    (["BEFORE", "1-Mar-2026"], [1, 2]),
    (["SINCE", "1-Mar-2026"], [3, 4, 5]),
    (["ON", "15-Feb-2026"], [2]),
    (["SENTBEFORE", "1-Feb-2026"], [1, 4]),
    (["SENTSINCE", "1-Mar-2026"], [3, 5]),
    (["SENTON", "15-Feb-2026"], [2]),
    (["LARGER", "50000"], [4]),
    (["SMALLER", "1000"], [1, 2, 3, 5]),
    (["FROM", "bob"], [2]),
    (["FROM", "EXAMPLE.DE"], [3]),
    (["TO", "bob@example"], [1]),
    (["CC", "carol"], [2]),
    (["BCC", "carol"], []),
    (["SUBJECT", "quarterly"], [1, 5]),
    (["SUBJECT", '"REPORT"'], [1, 5]),
    (["BODY", "numbers"], [1, 5]),
    (["BODY", "zanzibar"], [4]),
    (["BODY", "Quarterly"], []),
    (["TEXT", "pizza"], [2]),
    (["TEXT", "alpha"], [1]),
    (["TEXT", "Quarterly"], [1, 5]),
    (["HEADER", "X-Tag", "alpha"], [1]),
    (["HEADER", "X-Tag", '""'], [1]),
    (["HEADER", "In-Reply-To", "s1@"], [5]),
    (["OR", "FROM", "bob", "SUBJECT", "quarterly"], [1, 2, 5]),
    (["NOT", "SEEN"], [2, 4, 5]),
    (["NOT", "(OR", "SEEN", "FLAGGED)"], [4, 5]),
    (["UNSEEN", "SMALLER", "1000"], [2, 5]),
    (["UID", "2:4"], [2, 3, 4]),
    (["UID", "4:*"], [4, 5]),
    (["2:3"], [2, 3]),
    (["*"], [5]),
    (["1,3:4", "SEEN"], [1, 3]),
]


def check_all(cases, run):
    """Runs every case (one server for all of them) and fails listing each
    mismatch: criteria, expected, got."""
    bad = []
    for case in cases:
        want = case[-1]
        try:
            got = run(*case[:-1])
        except AssertionError as e:
            got = f"error: {str(e)[:300]}"
        if got != want:
            bad.append(f"{case[:-1]}: want {want}, got {got}")
    assert not bad, "\n".join(bad)


def test_search(corpus):
    # seq == uid in this mailbox, so both give the same numbers.
    check_all(CASES, lambda c: search(corpus, c))
    check_all(CASES, lambda c: search(corpus, c, uid=False))


UTF8_CASES = [
    (["SUBJECT", "über"], [3]),       # RFC 2047 decoded, case-folded
    (["SUBJECT", "GRÖßE"], [3]),      # Ö folds to ö
    (["FROM", "Jürgen"], [3]),
    (["BODY", "café"], [3]),          # quoted-printable decoded
    (["BODY", "CRÈME BRÛLÉE"], [3]),
    (["BODY", "grüße"], [5]),         # 8bit body
    (["TEXT", "GRÜ"], [5]),
]


def test_search_utf8(corpus):
    check_all(UTF8_CASES, lambda c: search(
        corpus, [c[0], Literal(c[1].encode())], charset="UTF-8"))
    if corpus.rev2:  # UTF-8 in a quoted string is IMAP4rev2 syntax
        check_all(UTF8_CASES, lambda c: search(
            corpus, [c[0], '"' + c[1] + '"'], charset="UTF-8"))


def test_search_bad_charset_and_syntax(corpus):
    r = corpus.cmd("SEARCH CHARSET X-NOT-A-CHARSET BODY x")
    assert r.status == "NO" and r.code("BADCHARSET") is not None, r
    assert corpus.cmd("SEARCH NOSUCHKEY").status == "BAD"
    assert corpus.cmd("SEARCH BEFORE 31-Foo-2026").status == "BAD"


def test_search_new_old_rev1(imap_server):
    c = session(imap_server)
    c.ok("CREATE S")
    for date, flags, headers, body in CORPUS:
        append(c, "S", build(headers, body), flags=flags, date=date)
    c.select("S")  # claims every message as \Recent
    assert search(c, ["RECENT"]) == [1, 2, 3, 4, 5]
    assert search(c, ["NEW"]) == [2, 4, 5]
    assert search(c, ["OLD"]) == []
    c2 = session(imap_server)
    c2.select("S")
    assert search(c2, ["RECENT"]) == []
    assert search(c2, ["OLD"]) == [1, 2, 3, 4, 5]
    c.close()
    c2.close()


def esearch(r):
    es = r.of("ESEARCH")
    assert len(es) == 1, r
    t = es[0].tokens[2:]
    out = {}
    i = 0
    while i < len(t):
        if isinstance(t[i], list):  # (TAG "...")
            out["TAG"] = s(t[i][1])
            i += 1
        elif str(t[i]).upper() == "UID":
            out["UID"] = True
            i += 1
        else:
            out[str(t[i]).upper()] = str(t[i + 1])
            i += 2
    return out


def test_esearch_return(corpus):
    r = corpus.ok("UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    e = esearch(r)
    assert e["TAG"] == r.tag and e.get("UID") is True, e
    assert (e["MIN"], e["MAX"], e["COUNT"]) == ("2", "5", "3"), e
    assert expand(e["ALL"]) == [2, 4, 5], e
    e = esearch(corpus.ok("SEARCH RETURN () FLAGGED"))
    assert expand(e["ALL"]) == [2] and "UID" not in e, e
    e = esearch(corpus.ok("SEARCH RETURN (COUNT) DRAFT"))
    assert e.get("COUNT") == "0" and "ALL" not in e and "MIN" not in e, e
    e = esearch(corpus.ok("SEARCH RETURN (MAX) SEEN"))
    assert e == {"TAG": e["TAG"], "MAX": "3"}, e


def test_searchres_save(corpus):
    r = corpus.ok("UID SEARCH RETURN (SAVE) OR FROM bob FROM carol")
    assert not r.of("ESEARCH") and not r.of("SEARCH"), r
    f = corpus.ok("UID FETCH $ (UID)").fetches()
    assert sorted(int(x["UID"]) for x in f.values()) == [2, 4]
    # $ in a later SEARCH, and SAVE with MIN returns MIN but saves all.
    assert search(corpus, ["UID", "$", "FLAGGED"]) == [2]
    # SAVE with MIN alone returns and saves only the minimum (RFC 5182
    # section 2.4); with ALL it saves every match.
    e = esearch(corpus.ok("SEARCH RETURN (SAVE MIN) SUBJECT quarterly"))
    assert e["MIN"] == "1", e
    f = corpus.ok("FETCH $ (UID)").fetches()
    assert sorted(int(x["UID"]) for x in f.values()) == [1]
    e = esearch(corpus.ok("SEARCH RETURN (SAVE MIN ALL) SUBJECT quarterly"))
    f = corpus.ok("FETCH $ (UID)").fetches()
    assert sorted(int(x["UID"]) for x in f.values()) == [1, 5]
    # An empty result saves the empty set.
    corpus.ok("SEARCH RETURN (SAVE) KEYWORD $NoSuchKeyword")
    r = corpus.ok("UID SEARCH UID $")
    assert numbers(r) == [], r


SORTS = [
    ("(SUBJECT)", "ALL", [4, 2, 1, 5, 3]),
    ("(DATE)", "ALL", [1, 4, 2, 3, 5]),
    ("(REVERSE DATE)", "ALL", [5, 3, 2, 4, 1]),
    ("(FROM)", "ALL", [1, 2, 4, 5, 3]),
    ("(REVERSE FROM)", "ALL", [3, 5, 4, 2, 1]),
    ("(ARRIVAL)", "ALL", [1, 2, 3, 4, 5]),
    ("(REVERSE ARRIVAL)", "ALL", [5, 4, 3, 2, 1]),
    ("(SIZE)", "LARGER 40", None),  # checked against RFC822.SIZE below
    ("(DATE)", "UNSEEN", [4, 2, 5]),
    ("(TO SUBJECT)", "ALL", [4, 2, 5, 3, 1]),
    ("(CC REVERSE ARRIVAL)", "ALL", [5, 4, 3, 1, 2]),
]


def sort(c, keys, criteria, uid=False):
    r = c.ok(("UID SORT " if uid else "SORT ") + f"{keys} UTF-8 {criteria}")
    so = r.of("SORT")
    assert len(so) == 1, r
    return [int(x) for x in so[0].tokens[2:]]


def test_sort(corpus):
    f = corpus.ok("FETCH 1:* RFC822.SIZE").fetches()
    by_size = sorted(f, key=lambda n: (int(f[n]["RFC822.SIZE"]), n))
    cases = [(k, c, w if w is not None else by_size) for k, c, w in SORTS]
    check_all(cases, lambda k, c: sort(corpus, k, c))
    check_all(cases, lambda k, c: sort(corpus, k, c, uid=True))


def ordered(seqset):
    """A sequence set in the order written ("5,3:2" -> [5, 3, 2])."""
    out = []
    for part in seqset.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            step = 1 if b >= a else -1
            out.extend(range(a, b + step, step))
        else:
            out.append(int(part))
    return out


def test_esort(corpus):
    r = corpus.ok("SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL")
    e = esearch(r)
    assert (e["MIN"], e["MAX"], e["COUNT"]) == ("5", "1", "5"), e
    assert ordered(e["ALL"]) == [5, 3, 2, 4, 1], e
    assert corpus.cmd("SORT (BOGUS) UTF-8 ALL").status == "BAD"


THREAD_MSGS = [
    ["Subject: Plan", "Message-ID: <a@x.example>",
     "Date: Thu, 01 Jan 2026 10:00:00 +0000"],
    ["Subject: Re: Plan", "Message-ID: <b@x.example>",
     "In-Reply-To: <a@x.example>", "References: <a@x.example>",
     "Date: Fri, 02 Jan 2026 10:00:00 +0000"],
    ["Subject: Re: Plan", "Message-ID: <c@x.example>",
     "References: <a@x.example> <b@x.example>",
     "Date: Sat, 03 Jan 2026 10:00:00 +0000"],
    ["Subject: Other", "Message-ID: <d@x.example>",
     "Date: Sun, 04 Jan 2026 10:00:00 +0000"],
    ["Subject: Re: Other", "Message-ID: <e@x.example>",
     "Date: Mon, 05 Jan 2026 10:00:00 +0000"],
]


def test_thread(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    c.ok("CREATE T")
    for h in THREAD_MSGS:
        append(c, "T", build(["From: x@example.org", *h], "text\r\n"))
    c.select("T")

    def thread(alg, uid=False):
        r = c.ok(("UID " if uid else "") + f"THREAD {alg} UTF-8 ALL")
        th = r.of("THREAD")
        assert len(th) == 1, r
        return th[0].tokens[2:]

    assert thread("REFERENCES") == [["1", "2", "3"], ["4", "5"]]
    assert thread("REFERENCES", uid=True) == [["1", "2", "3"], ["4", "5"]]
    assert thread("ORDEREDSUBJECT") == [["1", ["2"], ["3"]], ["4", "5"]]
    r = c.ok("THREAD REFERENCES UTF-8 SUBJECT other")
    assert r.of("THREAD")[0].tokens[2:] == [["4", "5"]], r
    assert c.cmd("THREAD NOSUCH UTF-8 ALL").status == "BAD"
    c.close()
