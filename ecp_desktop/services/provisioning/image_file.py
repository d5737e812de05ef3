"""What a disk image file on this computer is, read from its first bytes: its format, the
size a guest sees, and whether it reads other files (a qcow2 backing file, or an external
data file). The qcow2 header is a fixed, documented layout (QEMU's docs/interop/qcow2.txt),
read here with ``struct`` because the file may be on a computer without qemu-img.

An image that names another file is data pointing at a path: used as it is, the overlay
made over it (or the machine booted from it) would read that file on the host (reproduced:
an image naming ``/etc/shadow``). Such an image is refused, with the words to flatten it.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

QCOW_MAGIC = b"QFI\xfb"
_HEADER = struct.Struct(">4sIQIIQ")       # magic, version, backing offset and size, cluster bits, size
_INCOMPATIBLE = struct.Struct(">Q")        # version 3: incompatible features, at byte 72
EXTERNAL_DATA_FILE = 1 << 2                # incompatible feature bit 2: the data is in another file
MAX_BACKING_NAME = 1023                    # QEMU's own bound on the name's length


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


def read_image(path: str) -> ImageFile:
    """Blocking (a local file); raises OSError when it cannot be read."""
    with open(path, "rb") as handle:
        header = handle.read(_HEADER.size + 52)
        if len(header) < _HEADER.size or header[:4] != QCOW_MAGIC:
            return ImageFile("raw", os.path.getsize(path))
        _magic, version, backing_offset, backing_size, _bits, size = _HEADER.unpack_from(header)
        external = version >= 3 and len(header) >= 80 and bool(
            _INCOMPATIBLE.unpack_from(header, 72)[0] & EXTERNAL_DATA_FILE)
        backing = ""
        if backing_offset and backing_size:
            handle.seek(backing_offset)
            name = handle.read(min(backing_size, MAX_BACKING_NAME))
            backing = name.decode("utf-8", "replace") or "(unreadable name)"
    return ImageFile("qcow2", size, backing, external)


def flatten_hint(path: str) -> str:
    return (f"make a copy that stands alone first (qemu-img convert -O qcow2 {path} NEW.qcow2) and use that "
            "copy; an image that reads other files is never used as it is")
