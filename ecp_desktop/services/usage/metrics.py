"""What a usage sample measures, by index: the columns of every ring and sample (numpy-free,
so that start-up and the views name them without loading numpy before the first sample)."""
from __future__ import annotations

METRICS = ("cpu", "memory", "disk_read", "disk_write", "net_rx", "net_tx")
CPU, MEMORY, DISK_READ, DISK_WRITE, NET_RX, NET_TX = range(len(METRICS))
