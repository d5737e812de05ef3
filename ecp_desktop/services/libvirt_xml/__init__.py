"""The one libvirt vocabulary: domains, devices, storage pools and volumes, networks and
snapshots as objects over their XML, each field declared once and used to read and write
(``xmlmodel``), and the rules about them (``devices``: buses, target names, MACs, models,
volume names; ``storage``: pools, volumes and which machines use them). Nothing else in the
application parses or writes libvirt XML."""
