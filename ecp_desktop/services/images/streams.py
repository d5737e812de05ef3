"""Bytes to and from a host's volume through libvirt streams (the host may be remote: the
data travels over the connection, never through a path on the host).

Blocking: each function runs on the host's worker. ``progress(done, total)`` is called from
that worker after each chunk; ``stopped()`` is asked before each chunk, and when it turns
true the stream is aborted (libvirt drops what it had) and ``Refusal`` says it was cancelled.
A download is written to a hidden file beside the target and renamed into place only when
complete: the target never holds half a volume.
"""
from __future__ import annotations

import contextlib
import os
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
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return sent


def file_chunks(path: str) -> Iterator[bytes]:
    """A local file's bytes, a chunk at a time."""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def receive(conn: libvirt.virConnect, volume: libvirt.virStorageVol, write: Callable[[bytes], object],
            length: int = 0, progress: Progress | None = None, stopped: Callable[[], bool] = _never) -> int:
    """Read ``volume`` (its first ``length`` bytes; 0: all of it) into ``write``."""
    total = length or volume.info()[1]
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


def download_to_file(conn: libvirt.virConnect, volume: libvirt.virStorageVol, path: str,
                     progress: Progress | None = None, stopped: Callable[[], bool] = _never) -> int:
    """The whole volume into the new local file ``path`` (refused when it exists)."""
    folder = os.path.dirname(os.path.abspath(path))
    partial = os.path.join(folder, f".{os.path.basename(path)}.part-{os.getpid()}")
    try:
        with open(partial, "xb") as handle:
            got = receive(conn, volume, handle.write, 0, progress, stopped)
        try:
            os.link(partial, path)  # never over a file that appeared meanwhile (rename would replace it)
        except FileExistsError:
            raise Refusal(f"{path} appeared while downloading; it is kept as it was and the download "
                          "discarded") from None
        os.unlink(partial)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return got
