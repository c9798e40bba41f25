"""The TCP/UDP port range this test process may pick its ports from.

Every port a test binds (despatch's listeners at an offset, fake MXs, the
DNS server) is drawn at random from 20000-32767: below Linux's ephemeral
range, so that a client socket can never take a listener's port while a
test restarts a server. Under pytest-xdist (`make integration` runs two
workers) each worker gets its own slice of that range, so two workers
never pick the same port at the same moment.
"""
import os

PORT_LO = 20000
PORT_HI = 32768  # exclusive: Linux's ephemeral ports start here


def port_range():
    """(lo, hi) with hi exclusive: this worker's share of the range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return PORT_LO, PORT_HI
    k = int(worker[2:])
    step = (PORT_HI - PORT_LO) // count
    return PORT_LO + k * step, PORT_LO + (k + 1) * step


# Every port handed out in this process, for as long as the process lives.
# Checking that a port is free is not enough on its own: a test picks its
# despatch offset, then its DNS server and fake MXs pick theirs, and until
# despatch has bound its listeners the kernel still reports their ports as
# free (CI once failed on submission's 587+N taken by the test's own DNS
# server). A port is never handed out twice, so pickers in one process
# cannot collide; the other xdist workers use other ranges.
_taken = set()


def pick_ports(is_free, span=(0,), tries=400):
    """A base port p of this worker's range such that every p + s for s in
    span is free by is_free(port) and was never handed out before; those
    ports are then taken. Raises RuntimeError after tries attempts."""
    import random
    rng = random.Random()
    lo, hi = port_range()
    top = hi - max(span)
    for _ in range(tries):
        p = rng.randrange(lo, top)
        ports = [p + s for s in span]
        if any(q in _taken for q in ports):
            continue
        if all(is_free(q) for q in ports):
            _taken.update(ports)
            return p
    raise RuntimeError(f"no free port among {tries} tries in {lo}-{hi}")
