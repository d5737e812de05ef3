"""What a running machine's guest tells about itself: its addresses (guest agent, DHCP
leases, ARP), its OS name and hostname, and whether its QEMU guest agent answers."""
