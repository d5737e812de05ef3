"""What a disk image file on this computer is, read from its first bytes: its format, the
size a guest sees, and whether it reads other files (a qcow2 backing file, or an external
data file). The qcow2 header is a fixed, documented layout (QEMU's docs/interop/qcow2.txt),
read here with ``struct`` because the file may be on a computer without qemu-img.

An image that names another file is data pointing at a path: used as it is, the overlay
made over it (or the machine booted from it) would read that file on the host (reproduced:
an image naming ``/etc/shadow``). Such an image is refused, with the words to flatten it;
a local one is flattened on the user's choice (``flatten``: qemu-img on this computer, with
the user's own rights, into a copy that stands alone, uploaded instead).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import struct
import subprocess
from dataclasses import dataclass

QCOW_MAGIC = b"QFI\xfb"
_HEADER = struct.Struct(">4sIQIIQ")       # magic, version, backing offset and size, cluster bits, size
_INCOMPATIBLE = struct.Struct(">Q")        # version 3: incompatible features, at byte 72
EXTERNAL_DATA_FILE = 1 << 2                # incompatible feature bit 2: the data is in another file
MAX_BACKING_NAME = 1023                    # QEMU's own bound on the name's length
MAX_CHAIN = 16
FLATTEN_SECONDS = 3600


class FlattenRefused(Exception):
    """The image cannot be flattened here (the words say why)."""


@dataclass(frozen=True)
class ImageFile:
    format: str                 # qcow2 or raw
    virtual_size: int           # bytes a guest sees
    backing_file: str = ""      # the file a qcow2 image reads below its own data ("" when none)
    external_data: bool = False  # a qcow2 image whose data is in another file

    def reads_other_files(self) -> str:
        """Why this image reads files besides itself, in words ("" when it does not)."""
        if self.backing_file:
            return f"it has a backing file ({self.backing_file!r})"
        if self.external_data:
            return "its data is in an external data file"
        return ""


HEAD_BYTES = 65536  # enough for the header and a backing file's name where QEMU writes it


def read_image(path: str) -> ImageFile:
    """Blocking (a local file); raises OSError when it cannot be read."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    return parse_image(head, os.path.getsize(path))


def parse_image(head: bytes, file_size: int) -> ImageFile:
    """What the first bytes of an image say (``head``: at least its header; a backing file's
    name beyond them is taken as unreadable, which still counts as a backing file)."""
    if len(head) < _HEADER.size or head[:4] != QCOW_MAGIC:
        return ImageFile("raw", file_size)
    _magic, version, backing_offset, backing_size, _bits, size = _HEADER.unpack_from(head)
    external = version >= 3 and len(head) >= 80 and bool(_INCOMPATIBLE.unpack_from(head, 72)[0] & EXTERNAL_DATA_FILE)
    backing = ""
    if backing_offset and backing_size:
        name = head[backing_offset:backing_offset + min(backing_size, MAX_BACKING_NAME)]
        backing = name.decode("utf-8", "replace") or "(unreadable name)"
    return ImageFile("qcow2", size, backing, external)


def flatten_hint(path: str, *, here: bool = False) -> str:
    choice = "choose to flatten it (Flatten, or --flatten), or " if here else ""
    return (f"{choice}make a copy that stands alone first (qemu-img convert -O qcow2 {path} NEW.qcow2) and use "
            "that copy; an image that reads other files is never used as it is")


def backing_chain(path: str) -> list[str]:
    """The files the image reads, in order: only plain local files that exist (``FlattenRefused``
    for a protocol or ``json:`` name, which qemu-img would open as a network or special source,
    for a missing file, an external data file or a chain deeper than MAX_CHAIN)."""
    chain, current = [], os.path.abspath(path)
    for _depth in range(MAX_CHAIN):
        image = read_image(current)
        if image.external_data:
            raise FlattenRefused(f"{current} keeps its data in an external data file")
        if not image.backing_file:
            return chain
        name = image.backing_file
        if name.startswith("json:") or ":" in name.split("/", 1)[0]:
            raise FlattenRefused(f"{current} names {name!r} as its backing file: not a plain file")
        backing = name if os.path.isabs(name) else os.path.join(os.path.dirname(current), name)
        if not os.path.isfile(backing):
            raise FlattenRefused(f"{current} names {name!r} as its backing file, which is not a file here")
        chain.append(os.path.abspath(backing))
        current = os.path.abspath(backing)
    raise FlattenRefused(f"{path} has a chain of more than {MAX_CHAIN} backing files")


def flatten_folder() -> str:
    """Where flattened copies wait for their upload (this user's cache; removed after it)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "ecp-desktop", "flattened")


def flatten(path: str, folder: str) -> str:
    """A copy of the qcow2 image at ``path`` that stands alone, made in ``folder`` with
    ``qemu-img convert`` (argv, no shell); its path. The same file, unchanged, gives the same
    copy (planned again, it is not made again). Blocking, long: a worker thread."""
    chain = backing_chain(path)  # (refuses what qemu-img would open as something other than a file)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0] or "image"
    seen = "|".join(f"{p}:{os.stat(p).st_mtime_ns}:{os.stat(p).st_size}" for p in [os.path.abspath(path), *chain])
    target = os.path.join(folder, f"{stem}-standalone-{hashlib.sha256(seen.encode()).hexdigest()[:16]}.qcow2")
    if os.path.isfile(target) and not read_image(target).reads_other_files():
        return target
    partial = f"{target}.{secrets.token_hex(4)}.part"
    try:
        done = subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", os.path.abspath(path), partial],
                              capture_output=True, text=True, timeout=FLATTEN_SECONDS)
    except FileNotFoundError:
        raise FlattenRefused("qemu-img is not installed on this computer (Debian: qemu-utils)") from None
    except subprocess.TimeoutExpired:
        _remove(partial)
        raise FlattenRefused(f"flattening {path} took more than {FLATTEN_SECONDS} s") from None
    if done.returncode != 0:
        _remove(partial)
        raise FlattenRefused(f"qemu-img could not flatten {path}: {done.stderr.strip()[-500:]}")
    if read_image(partial).reads_other_files():  # (never: convert writes no backing file)
        _remove(partial)
        raise FlattenRefused(f"the copy of {path} still reads other files")
    os.replace(partial, target)
    return target


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
