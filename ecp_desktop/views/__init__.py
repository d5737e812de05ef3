"""Everything Qt: windows, dialogs and the item models that adapt service events."""
