"""A guest agent's answer is the guest's words: each address is parsed, never passed on."""
import pytest

from ecp_desktop.services.guests.addresses import checked_address


@pytest.mark.parametrize("entry, shown", [
    ({"addr": "192.168.122.3", "prefix": 24}, "192.168.122.3/24"),
    ({"addr": "fe80::5054:ff:fe00:1", "prefix": 64}, "fe80::5054:ff:fe00:1/64"),
    ({"addr": "127.0.0.1", "prefix": 8}, ""),                       # the guest's own loopback
    ({"addr": "10.0.0.1", "prefix": 99}, ""),                       # no such prefix
    ({"addr": "10.0.0.1\u202e<b>x</b>", "prefix": 8}, ""),          # not an address
    ({"addr": None, "prefix": "x"}, ""),
    ({}, ""),
])
def test_an_address_is_shown_only_as_a_parsed_address(entry, shown):
    assert checked_address(entry) == shown
