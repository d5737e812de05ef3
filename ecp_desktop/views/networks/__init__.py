"""Host → Networks…: virtual networks and their DHCP leases."""
