# SPDX-License-Identifier: MIT
"""A hostile or broken first MX (raw scripted replies no real server
sends: endless multi-line greetings, overlong lines, bare LF, garbage,
a lying STARTTLS, a 5xx/4xx mix) in front of a good second MX: the client
must give up on the first host within its bounds and deliver through the
second; serve stays up and sanitizer-clean (the fixture's teardown checks
its log)."""
import time

import pytest

from fake_mx import ScriptedMX, read_line
from outbound_util import (message, outbound, reports,  # noqa: F401
                           submit, wait_queue_empty)
from test_outbound import IP, check_relayed


def endless_greeting(s, n):
    s.sendall(b"220-hello\r\n" * 20000)
    time.sleep(5)


def overlong_line(s, n):
    s.sendall(b"220 " + b"x" * 200000 + b"\r\n")
    time.sleep(5)


def no_crlf_ever(s, n):
    for _ in range(200):
        s.sendall(b"220 " + b"y" * 1000)
    time.sleep(5)


def bare_lf(s, n):
    s.sendall(b"220 hostile.test ESMTP\n")
    read_line(s)
    s.sendall(b"250-hostile.test\n250 PIPELINING\n")
    time.sleep(5)


def garbage(s, n):
    s.sendall(b"\x00\xff\xfeHELLO\x00\r\n999 what\r\n")
    time.sleep(5)


def mixed_codes(s, n):
    s.sendall(b"220 ok\r\n")
    read_line(s)
    s.sendall(b"250-hostile.test\r\n251-SIZE 10\r\n250 OK\r\n")
    time.sleep(5)


def close_after_greeting(s, n):
    s.sendall(b"220 hostile.test ESMTP\r\n")


def lying_starttls(s, n):
    s.sendall(b"220 hostile.test ESMTP\r\n")
    while True:
        line = read_line(s)
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            s.sendall(b"250-hostile.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
        elif cmd == b"STARTTLS":
            s.sendall(b"220 go ahead\r\n")
            s.sendall(b"this is not a TLS server hello\r\n" * 10)
            return
        elif cmd == b"QUIT":
            s.sendall(b"221 bye\r\n")
            return
        else:
            s.sendall(b"421 4.3.0 not for you\r\n")
            return


SCRIPTS = {
    "endless_greeting": endless_greeting,
    "overlong_line": overlong_line,
    "no_crlf_ever": no_crlf_ever,
    "bare_lf": bare_lf,
    "garbage": garbage,
    "mixed_codes": mixed_codes,
    "close_after_greeting": close_after_greeting,
    "lying_starttls": lying_starttls,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_hostile_first_mx_then_good_one(outbound, name):
    bad = ScriptedMX(IP[0], outbound.port, SCRIPTS[name], timeout=10)
    bad.start()
    outbound.servers[IP[0]] = bad
    good = outbound.fake_mx(IP[1])
    outbound.domain("h.test", [IP[0], IP[1]])
    outbound.start(outbound={"timeout_seconds": 3})
    msg = message(f"past {name}", "x@h.test")
    assert submit(outbound.d, "alice", ["x@h.test"], msg) == {}
    wait_queue_empty(outbound.d, 60)
    assert bad.count >= 1, "the first MX was not tried"
    t, = good.received()
    check_relayed(t.data, msg)
    assert reports(outbound.d, "alice") == []
    assert outbound.d.proc.poll() is None
