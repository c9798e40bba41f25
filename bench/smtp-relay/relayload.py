#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Submission load for bench/smtp-relay: C concurrent sessions, each
EHLO, STARTTLS (optional), EHLO, AUTH PLAIN (optional), then its share of
N messages of about S bytes (MAIL, RCPT, DATA, one round trip each), then
QUIT. Message i goes to r<i>@d<i % D>.test so the load spreads over D
destination domains. Prints one line:

    ok=N fail=F seconds=T msgs_per_s=R

Every socket operation has a timeout (-t); the whole run is bounded by
-T seconds."""
import argparse
import asyncio
import base64
import ssl
import sys
import time


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def body(i, size, sender):
    head = (f"From: <{sender}>\r\nTo: <r{i}@d.test>\r\n"
            f"Subject: relay bench {i}\r\n"
            f"Message-ID: <relay-{i}-{time.time_ns()}@bench.test>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    n = max(0, size - len(head)) // len(line) + 1
    return head + line * n


class Session:
    def __init__(self, a):
        self.a = a
        self.r = self.w = None

    async def reply(self):
        lines = []
        while True:
            ln = await asyncio.wait_for(self.r.readline(), self.a.timeout)
            if not ln:
                raise ConnectionError("EOF")
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                return int(ln[:3]), lines

    async def cmd(self, line, want):
        self.w.write(line + b"\r\n")
        code, lines = await self.reply()
        if code // 100 != want // 100:
            raise RuntimeError(f"{line[:40]!r}: {lines!r}")
        return lines

    async def run(self, first, step, total):
        a = self.a
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port, limit=1 << 20,
                                    ssl=tls_ctx() if a.implicit else None),
            a.timeout)
        code, _ = await self.reply()
        if code != 220:
            raise RuntimeError(f"greeting {code}")
        await self.cmd(b"EHLO load.bench.test", 250)
        if a.starttls:
            await self.cmd(b"STARTTLS", 220)
            await asyncio.wait_for(self.w.start_tls(tls_ctx()), a.timeout)
            await self.cmd(b"EHLO load.bench.test", 250)
        if a.auth:
            user, pw = a.auth.split(":", 1)
            tok = base64.b64encode(f"\0{user}\0{pw}".encode())
            await self.cmd(b"AUTH PLAIN " + tok, 235)
        ok = fail = 0
        for i in range(first, total, step):
            try:
                await self.cmd(f"MAIL FROM:<{a.sender}>".encode(), 250)
                await self.cmd(f"RCPT TO:<r{i}@d{i % a.domains}.test>"
                               .encode(), 250)
                await self.cmd(b"DATA", 354)
                self.w.write(body(i, a.size, a.sender) + b".\r\n")
                code, lines = await self.reply()
                if code == 250:
                    ok += 1
                else:
                    fail += 1
                    await self.cmd(b"RSET", 250)
            except RuntimeError as e:
                fail += 1
                print(f"session error: {e}", file=sys.stderr)
                await self.cmd(b"RSET", 250)
        try:
            self.w.write(b"QUIT\r\n")
            await asyncio.wait_for(self.reply(), a.timeout)
            self.w.close()
        except Exception:  # noqa: BLE001 - the count is what matters
            pass
        return ok, fail


async def main(a):
    t0 = time.monotonic()
    tasks = [Session(a).run(k, a.sessions, a.messages)
             for k in range(a.sessions)]
    res = await asyncio.wait_for(asyncio.gather(*tasks,
                                                return_exceptions=True),
                                 a.total_timeout)
    dt = time.monotonic() - t0
    ok = fail = 0
    for r in res:
        if isinstance(r, BaseException):
            print(f"session failed: {r!r}", file=sys.stderr)
            continue
        ok += r[0]
        fail += r[1]
    fail += a.messages - ok - fail
    print(f"ok={ok} fail={fail} seconds={dt:.3f} "
          f"msgs_per_s={ok / dt if dt > 0 else 0:.1f}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, required=True)
    p.add_argument("-c", "--sessions", type=int, default=10)
    p.add_argument("-n", "--messages", type=int, default=1000)
    p.add_argument("-s", "--size", type=int, default=5000)
    p.add_argument("-d", "--domains", type=int, default=10)
    p.add_argument("-f", "--sender", default="load@bench.test")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--implicit", action="store_true")
    p.add_argument("--auth", default="")
    p.add_argument("-t", "--timeout", type=float, default=60)
    p.add_argument("-T", "--total-timeout", type=float, default=600)
    sys.exit(asyncio.run(main(p.parse_args())))
