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
