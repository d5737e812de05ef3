import pytest

from ecp_desktop.services.hosts.uri import InvalidUri, display_name, parse_uri


@pytest.mark.parametrize("uri", [
    "qemu:///system", "qemu:///session", "qemu+ssh://root@host.example/system",
    "qemu+tcp://lab-b.example:16509/system", "qemu+tls://host/system", "test:///default", "lxc:///system",
    "qemu+ssh://user@host/system?keyfile=/home/u/.ssh/id&no_verify=1",
])
def test_accepts_uris_libvirt_opens(uri):
    assert parse_uri(uri).uri == uri


@pytest.mark.parametrize("uri, words", [
    ("", "enter a connection URI"),
    ("qemu", "not a URI"),
    ("qemu:/system", "not a URI"),
    ("kvm:///system", "unknown hypervisor driver 'kvm'"),
    ("qemu+telnet://host/system", "unknown transport 'telnet'"),
    ("qemu+ssh:///system", "needs a host name"),
    ("qemu:///sytem", "ends in /system or /session"),
    ("qemu+tcp://host:99999/system", "invalid port"),
    ("test:///no/such/file.xml", "test host file not found"),
    ("qemu:// /system", "cannot contain spaces"),
])
def test_rejects_bad_uris_with_a_reason(uri, words):
    with pytest.raises(InvalidUri, match=words):
        parse_uri(uri)


def test_display_names_are_short_and_say_where():
    assert display_name("qemu+ssh://root@lab-b/system") == "QEMU/KVM on lab-b"
    assert display_name("qemu:///system") == "QEMU/KVM (local, system)"
    assert display_name("test:///default") == "Test: default"
