"""Every definition a machine had: versions recorded when a flow of the app wrote one or when
one was found changed (import, reconnect, a libvirt "defined" event), stored in the shared
inventory, listed newest first, compared as a unified diff and summarised in one line."""
