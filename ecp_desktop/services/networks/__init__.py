"""A host's virtual networks: read (mode, bridge, ranges, the machines attached), their DHCP
leases, and changed (created with a free subnet proposed, started, stopped, deleted), each
change a task."""
