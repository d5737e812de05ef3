"""Consoles of a machine, Qt-free: the graphical display in an external viewer
(:mod:`.viewer`) and the serial console as a libvirt stream (:mod:`.serial`)."""
