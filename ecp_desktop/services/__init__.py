"""Domain logic over libvirt and the database. Qt-free: views adapt these events."""
