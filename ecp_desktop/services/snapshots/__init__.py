"""Snapshots of machines: reading the tree (``info``) and taking, reverting and deleting one,
each through one function that holds the machine's lock and records a task (``service``)."""
