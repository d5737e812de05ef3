"""A bounded history of usage samples for the machines of one host, in two tiers.

Storage (per host): ``fine`` holds the last FINE_SAMPLES samples at the sampling interval
(10 minutes at 2 s), ``coarse`` the averages of COARSE_STEP-second buckets for the rest of
the hour (COARSE_SAMPLES of them). Both are preallocated numpy arrays of shape
(slots, samples, metrics) in float16, in units that keep every realistic value in float16's
range (6e-5 .. 65504, 11 significant bits): CPU in %, memory in GiB, rates in MiB/s. At
10,000 machines: 10,240 slots x (300 + 120) samples x 6 metrics x 2 B = 51.6 MB.
NaN means "no sample" (not running then, or not reported by the driver).

Written on a host's worker thread (``add``), read on the GUI thread: both under one lock,
held for vectorised numpy work only (well under a millisecond at 10,000 machines)."""
from __future__ import annotations

import math
import threading

import numpy as np

from .metrics import CPU, DISK_READ, DISK_WRITE, MEMORY, METRICS, NET_RX, NET_TX  # noqa: F401  (named here too)
# natural units (CPU %, memory bytes, rates bytes/s) times this = what is stored
STORE_SCALE = np.array([1.0, 2.0 ** -30, 2.0 ** -20, 2.0 ** -20, 2.0 ** -20, 2.0 ** -20], dtype=np.float64)
FINE_SAMPLES = 300    # 10 min at 2 s
COARSE_SAMPLES = 120  # 60 min at 30 s (the part the fine tier covers is not read from it)
COARSE_STEP = 30.0    # seconds
SLOT_STEP = 1024      # slots are added this many at a time


class UsageRing:
    """Samples of the machines of one host, by UUID. ``retention``: seconds a machine that is
    no longer sampled keeps its slot (its history shows until then)."""

    def __init__(self, *, fine: int = FINE_SAMPLES, coarse: int = COARSE_SAMPLES, coarse_step: float = COARSE_STEP,
                 slot_step: int = SLOT_STEP, retention: float = 3600.0) -> None:
        self.lock = threading.Lock()
        self._fine_n, self._coarse_n, self.coarse_step = fine, coarse, coarse_step
        self._slot_step, self.retention = slot_step, retention
        self.slots: dict[str, int] = {}   # UUID -> slot
        self._free: list[int] = []
        self.capacity = 0
        m = len(METRICS)
        self.fine = np.empty((0, fine, m), np.float16)
        self.coarse = np.empty((0, coarse, m), np.float16)
        self.fine_t = np.full(fine, np.nan)      # wall-clock seconds of each fine column
        self.coarse_t = np.full(coarse, np.nan)  # middle of each coarse bucket
        self.fine_count = 0                      # samples written so far (column = count % fine)
        self.coarse_count = 0
        self.latest = np.empty((0, m), np.float32)  # the last sample, natural units (NaN: not in it)
        self.latest_t = math.nan
        self._last_seen = np.empty(0)            # wall clock of each slot's last sample
        self._acc_sum = np.empty((0, m), np.float32)
        self._acc_n = np.empty((0, m), np.uint16)
        self._bucket: float | None = None

    # ----- writing (the host's worker) ------------------------------------------------------
    def slots_for(self, uuids: list[str]) -> np.ndarray:
        """The slots of ``uuids``, new ones given where needed (call under ``lock``)."""
        get, out = self.slots.get, np.empty(len(uuids), np.intp)
        for i, uuid in enumerate(uuids):
            slot = get(uuid)
            if slot is None:
                if not self._free:
                    self._grow()
                slot = self.slots[uuid] = self._free.pop()
            out[i] = slot
        return out

    def _grow(self) -> None:
        old, new = self.capacity, self.capacity + self._slot_step
        m = len(METRICS)

        def grown(array: np.ndarray, fill) -> np.ndarray:
            bigger = np.full((new, *array.shape[1:]), fill, array.dtype)
            bigger[:old] = array
            return bigger
        self.fine, self.coarse = grown(self.fine, np.nan), grown(self.coarse, np.nan)
        self.latest, self._last_seen = grown(self.latest, np.nan), grown(self._last_seen, np.nan)
        self._acc_sum = grown(self._acc_sum, 0)
        self._acc_n = grown(self._acc_n, 0)
        assert self._acc_sum.shape == (new, m)
        self.capacity = new
        self._free.extend(range(new - 1, old - 1, -1))  # lowest first

    def add(self, wall: float, slots: np.ndarray, values: np.ndarray) -> None:
        """One sample at ``wall`` (epoch seconds): ``values[i]`` (natural units, NaN where not
        known) for ``slots[i]``; every other slot gets no sample. Call under ``lock``."""
        bucket = math.floor(wall / self.coarse_step)
        if self._bucket is not None and bucket != self._bucket:
            self._close_bucket()
        self._bucket = bucket
        col = self.fine_count % self._fine_n
        with np.errstate(over="ignore", invalid="ignore"):
            stored = (values * STORE_SCALE).astype(np.float16)
        self.fine[:, col, :] = np.nan
        self.fine[slots, col, :] = stored
        self.fine_t[col] = wall
        self.fine_count += 1
        self.latest.fill(np.nan)
        self.latest[slots] = values
        self.latest_t = wall
        self._last_seen[slots] = wall
        known = ~np.isnan(values)
        self._acc_sum[slots] += np.where(known, values, 0.0).astype(np.float32)
        self._acc_n[slots] += known

    def _close_bucket(self) -> None:
        col = self.coarse_count % self._coarse_n
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = self._acc_sum / self._acc_n
            mean[self._acc_n == 0] = np.nan
            self.coarse[:, col, :] = (mean * STORE_SCALE).astype(np.float16)
        self.coarse_t[col] = (self._bucket + 0.5) * self.coarse_step
        self.coarse_count += 1
        self._acc_sum.fill(0)
        self._acc_n.fill(0)
        self._release_stale()

    def _release_stale(self) -> None:
        """Slots of machines not sampled for ``retention`` seconds go back to the free list."""
        if not self.slots or math.isnan(self.latest_t):
            return
        cutoff = self.latest_t - self.retention
        stale = [uuid for uuid, slot in self.slots.items() if self._last_seen[slot] < cutoff]
        for uuid in stale:
            self.forget(uuid)

    def forget(self, uuid: str) -> None:
        """Drop a machine's history (it was undefined, say). Call under ``lock``."""
        slot = self.slots.pop(uuid, None)
        if slot is None:
            return
        self.fine[slot] = np.nan
        self.coarse[slot] = np.nan
        self.latest[slot] = np.nan
        self._last_seen[slot] = np.nan
        self._acc_sum[slot] = 0
        self._acc_n[slot] = 0
        self._free.append(slot)

    # ----- reading (any thread; takes the lock) ---------------------------------------------
    def current(self, uuid: str, metric: int) -> float:
        """The last sample's value (natural units); NaN when the machine was not in it."""
        slot = self.slots.get(uuid)
        return math.nan if slot is None else float(self.latest[slot, metric])

    def sampled_at(self, uuid: str) -> float:
        """When the machine was last in a sample (epoch seconds); NaN: not in this history."""
        slot = self.slots.get(uuid)
        return math.nan if slot is None else float(self._last_seen[slot])

    def recent(self, uuid: str, metric: int, count: int) -> np.ndarray:
        """The last ``count`` fine samples of one metric, oldest first (NaN where none)."""
        slot = self.slots.get(uuid)
        if slot is None or self.fine_count == 0:
            return np.empty(0, np.float32)
        with self.lock:
            n = min(count, self.fine_count, self._fine_n)
            cols = np.arange(self.fine_count - n, self.fine_count) % self._fine_n
            stored = self.fine[slot, cols, metric].astype(np.float32)
        return stored / np.float32(STORE_SCALE[metric])

    def series(self, uuid: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values): the last hour of one machine, oldest first; times in epoch seconds,
        values (samples, metrics) in natural units. Coarse buckets older than the fine tier,
        then the fine samples."""
        slot = self.slots.get(uuid)
        if slot is None:
            return np.empty(0), np.empty((0, len(METRICS)))
        with self.lock:
            nf = min(self.fine_count, self._fine_n)
            fcols = np.arange(self.fine_count - nf, self.fine_count) % self._fine_n
            ft, fv = self.fine_t[fcols], self.fine[slot, fcols, :].astype(np.float64)
            nc = min(self.coarse_count, self._coarse_n)
            ccols = np.arange(self.coarse_count - nc, self.coarse_count) % self._coarse_n
            ct, cv = self.coarse_t[ccols], self.coarse[slot, ccols, :].astype(np.float64)
        if len(ft):
            older = ct + self.coarse_step / 2 <= ft[0]
            ct, cv = ct[older], cv[older]
        times = np.concatenate([ct, ft])
        values = np.concatenate([cv, fv]) / STORE_SCALE
        return times, values

    @property
    def nbytes(self) -> int:
        arrays = (self.fine, self.coarse, self.fine_t, self.coarse_t, self.latest, self._last_seen,
                  self._acc_sum, self._acc_n)
        return sum(a.nbytes for a in arrays)
