"""Disk images and volume contents: what an image file is, and bytes moved to and from a
host's volumes through libvirt streams."""
