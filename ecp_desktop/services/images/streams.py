"""Bytes to and from a host's volume through libvirt streams (the host may be remote: the
data travels over the connection, never through a path on the host).

Blocking: each function runs on the host's worker. ``progress(done, total)`` is called from
that worker after each chunk; ``stopped()`` is asked before each chunk, and when it turns
true the stream is aborted (libvirt drops what it had) and ``Refusal`` says it was cancelled.
A download reserves the target's name first (a new, empty file only this user can read:
an existing file is never replaced), is written to a private temporary file beside it and
moved over the reservation only when complete: the target never holds half a volume, and a
failure or a cancel removes both.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator

import libvirt

from ..core.errors import Refusal

CHUNK = 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes moved, bytes in all)


def _never() -> bool:
    return False


def _abort(stream: libvirt.virStream) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # the stream is gone already; the cause is reported
        stream.abort()


def send(conn: libvirt.virConnect, volume: libvirt.virStorageVol, chunks: Iterable[bytes], size: int,
         progress: Progress | None = None, stopped: Callable[[], bool] = _never) -> int:
    """Write ``chunks`` (in order, ``size`` bytes in all) into ``volume``."""
    stream = conn.newStream(0)
    volume.upload(stream, 0, size, 0)
    sent = 0
    try:
        for chunk in chunks:
            if stopped():
                raise Refusal("the upload was cancelled")
            view = memoryview(chunk)
            while view:
                written = stream.send(bytes(view))
                if written < 0:
                    raise Refusal("the host stopped taking the upload")
                view = view[written:]
            sent += len(chunk)
            if progress is not None:
                progress(sent, size)
        if sent != size:  # (the file changed size meanwhile: libvirt would pad the volume)
            raise Refusal(f"the file gave {sent:,} bytes where {size:,} were announced; nothing is kept")
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return sent


def open_regular(path: str):
    """``path`` opened for reading, refused unless it is a regular file (a FIFO or a device is
    never waited on: opened without blocking, then checked). The caller reads what it checks
    from this one handle, so the file cannot be swapped between the check and the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refusal(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_chunks(handle, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of an open file, a chunk at a time, from its start."""
    handle.seek(0)
    left = size
    while left > 0 and (chunk := handle.read(min(CHUNK, left))):
        left -= len(chunk)
        yield chunk


def receive(conn: libvirt.virConnect, volume: libvirt.virStorageVol, write: Callable[[bytes], object],
            length: int = 0, progress: Progress | None = None, stopped: Callable[[], bool] = _never) -> int:
    """Read ``volume`` (its first ``length`` bytes; 0: all of it) into ``write``."""
    total = length or _stored_bytes(volume)
    stream = conn.newStream(0)
    volume.download(stream, 0, length, 0)
    got = 0
    try:
        while not length or got < length:
            if stopped():
                raise Refusal("the download was cancelled")
            chunk = stream.recv(min(CHUNK, length - got) if length else CHUNK)
            if chunk == -2:  # (a blocking stream never says "again"; kept for a non-blocking one)
                continue
            if not isinstance(chunk, bytes) or not chunk:
                break
            write(chunk)
            got += len(chunk)
            if progress is not None:
                progress(got, max(total, got))
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return got


def _stored_bytes(volume: libvirt.virStorageVol) -> int:
    """What a whole download carries: the file's own bytes (a qcow2 file's, not its capacity)."""
    try:
        return volume.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] or volume.info()[1]
    except (libvirt.libvirtError, AttributeError):
        return volume.info()[1]


def download_to_file(conn: libvirt.virConnect, volume: libvirt.virStorageVol, path: str,
                     progress: Progress | None = None, stopped: Callable[[], bool] = _never) -> int:
    """The whole volume into the new local file ``path`` (refused when it exists)."""
    folder = os.path.dirname(os.path.abspath(path))
    reserved = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    os.close(reserved)
    partial = ""
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{os.path.basename(path)[:100]}.", suffix=".part", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            got = receive(conn, volume, handle.write, 0, progress, stopped)
        os.replace(partial, path)  # over the reservation made above: never over a file of someone else's
        partial = ""
    except BaseException:
        for made in (partial, path):
            if made:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(made)
        raise
    return got
