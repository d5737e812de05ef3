"""Host → Storage…: pools and volumes."""
