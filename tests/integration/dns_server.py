# SPDX-License-Identifier: MIT
"""A private `unbound` on 127.0.0.1:<free port> serving the test domains.

The zones are static local zones: a name in them that has no local-data
is NXDOMAIN (or NODATA for another type), and the catch-all static zone
"." makes every other name NXDOMAIN at once, so nothing is ever asked of
the internet. Started and stopped by the test (bounded waits); the server
runs in the foreground (do-daemonize: no) as a child of the test.
"""
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from ports import pick_ports

UNBOUND = "/usr/sbin/unbound"
HOST = "127.0.0.1"


def free_udp_tcp_port(addr=HOST, tries=200):
    """A port free for both UDP and TCP on addr, taken (ports.pick_ports)."""
    def free(p):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((addr, p))
            except OSError:
                return False
            finally:
                s.close()
        return True
    return pick_ports(free, tries=tries)


def dns_query(port, name, qtype, timeout=2.0):
    """A minimal UDP DNS query to 127.0.0.1:port; returns (rcode, ancount)
    or None on timeout. Used to wait until unbound answers."""
    types = {"A": 1, "MX": 15, "AAAA": 28}
    qid = os.getpid() & 0xFFFF
    hdr = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(l)]) + l.encode()
                 for l in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", types[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(hdr + q, (HOST, port))
        data, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    if len(data) < 12:
        return None
    flags, = struct.unpack(">H", data[2:4])
    ancount, = struct.unpack(">H", data[6:8])
    return flags & 0xF, ancount


class DnsServer:
    """zones: {domain: [record strings like 'MX 10 mx1.d.', 'A 127.0.0.2']}
    keyed by owner name; see add_*()."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = None
        self.proc = None
        self.zones = set()
        self.data = []  # local-data lines (without quotes)
        self.log_path = self.dir / "unbound.log"

    # --- the data --------------------------------------------------------
    def zone(self, domain):
        self.zones.add(domain.rstrip(".").lower() + ".")

    def record(self, owner, rtype, rdata, ttl=60):
        self.data.append(f"{owner.rstrip('.')}. {ttl} IN {rtype} {rdata}")

    def add_mx_domain(self, domain, hosts):
        """domain gets one MX per (pref, hostname, address); each host an
        A record. hostnames may be in the domain or elsewhere (their zone
        is added)."""
        self.zone(domain)
        for pref, host, ip in hosts:
            self.record(domain, "MX", f"{pref} {host.rstrip('.')}.")
            self.zone(host.split(".", 1)[1])
            if ip is not None:
                self.record(host, "A", ip)

    def add_null_mx(self, domain):
        self.zone(domain)
        self.record(domain, "MX", "0 .")

    def add_a_only(self, domain, ip):
        """No MX: the A record is the implicit MX (RFC 5321 §5.1)."""
        self.zone(domain)
        self.record(domain, "A", ip)

    def add_nxdomain(self, domain):
        """A static zone with no data: every name in it is NXDOMAIN."""
        self.zone(domain)

    # --- the process -----------------------------------------------------
    def config_text(self):
        lines = [
            "server:",
            "  verbosity: 1",
            f'  interface: {HOST}@{self.port}',
            "  port: 53",
            "  do-ip4: yes",
            "  do-ip6: no",
            "  do-udp: yes",
            "  do-tcp: yes",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{self.dir}"',
            f'  pidfile: "{self.dir}/unbound.pid"',
            '  logfile: ""',
            "  use-syslog: no",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            '  module-config: "iterator"',
            "  num-threads: 1",
            "  local-zone: \".\" static",
        ]
        for z in sorted(self.zones):
            lines.append(f'  local-zone: "{z}" static')
        for d in self.data:
            lines.append(f'  local-data: "{d}"')
        lines += ["remote-control:", "  control-enable: no", ""]
        return "\n".join(lines)

    def start(self, timeout=20):
        assert self.proc is None
        self.port = free_udp_tcp_port()
        conf = self.dir / "unbound.conf"
        conf.write_text(self.config_text())
        chk = subprocess.run(["/usr/sbin/unbound-checkconf", str(conf)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=30)
        if chk.returncode != 0:
            raise RuntimeError("unbound-checkconf: "
                               + chk.stdout.decode("utf-8", "replace")
                               + "\n" + conf.read_text())
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(conf)],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        probe = next(iter(sorted(self.zones)), "test.")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            r = dns_query(self.port, probe, "MX", timeout=0.5)
            if r is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"unbound did not answer on {HOST}:{self.port} "
                           f"within {timeout}s:\n"
                           + self.log_path.read_text("utf-8", "replace"))

    def resolver(self):
        """The value for despatch's outbound.resolver."""
        return f"{HOST}@{self.port}"

    def stop(self, timeout=10):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._log.close()
