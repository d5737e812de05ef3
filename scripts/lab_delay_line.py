"""The lab's delay line, for kernels without tc's netem: frames read from one tap are written
to the other MS later, in order, both ways (a far host's link; scripts/lab.sh delay).

    python3 scripts/lab_delay_line.py BRIDGE_TAP NETNS NS_TAP MS

The bridge-side tap is made in the root namespace, then the process enters NETNS and makes
the host's tap there; both stay open as long as the process runs (killing it cuts the link).
"""
import ctypes
import fcntl
import math
import os
import select
import struct
import sys
import time
from collections import deque

TUNSETIFF, IFF_TAP, IFF_NO_PI, CLONE_NEWNET = 0x400454CA, 0x0002, 0x1000, 0x40000000


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def enter_namespace(netns: str) -> None:
    ns = os.open("/run/netns/" + netns, os.O_RDONLY)
    if ctypes.CDLL(None, use_errno=True).setns(ns, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + netns)


def main() -> None:
    outer_name, netns, inner_name, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]) / 1000
    outer = open_tap(outer_name)
    enter_namespace(netns)
    inner = open_tap(inner_name)
    peer = {outer: inner, inner: outer}
    waiting = {outer: deque(), inner: deque()}  # per tap: (due, frame) to write to it, in order
    poll = select.poll()
    for fd in peer:
        poll.register(fd, select.POLLIN)
    while True:
        due = min((queue[0][0] for queue in waiting.values() if queue), default=None)
        timeout = -1 if due is None else max(0, math.ceil((due - time.monotonic()) * 1000))
        for fd, _event in poll.poll(timeout):
            while True:
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                waiting[peer[fd]].append((time.monotonic() + delay, frame))
        now = time.monotonic()
        for fd, queue in waiting.items():
            while queue and queue[0][0] <= now:
                try:
                    os.write(fd, queue.popleft()[1])
                except OSError:
                    pass  # that side is down: the frame is lost, as on a cut wire


if __name__ == "__main__":
    main()
