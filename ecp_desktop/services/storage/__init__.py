"""A host's storage pools and their volumes: read (with the machines that use each volume) and
changed (pools created, started, stopped, refreshed, deleted; volumes created, resized,
deleted), each change a task."""
