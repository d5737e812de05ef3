"""Edit Hardware: a change set, its domain XML and diff, what applies now or at the next
boot, and the flow that applies it with its undo (changes → edit_xml → hotplug → service)."""
