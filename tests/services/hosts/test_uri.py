import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecp_desktop.services.hosts.uri import InvalidUri, display_name, parse_uri

from ...helpers import LAB_URI


@pytest.mark.parametrize("uri", [
    "qemu:///system", "qemu:///session", "qemu+ssh://root@host.example/system",
    "qemu+tcp://lab-b.example:16509/system", "qemu+tls://host/system", "test:///default", "lxc:///system",
    "qemu+ssh://user@host/system?no_tty=1", "qemu+unix:///system?socket=/run/lab/libvirt-sock",
    "qemu+tls://host/system?pkipath=/home/u/.pki/libvirt", "qemu+tcp://[fe80::1]:16509/system",
    "qemu+ssh://root@10.0.0.7/system",
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
    # hostile: each of these would run a program or trust a peer it should not
    ("qemu+ext:///system?command=/tmp/evil", "ext transport runs a program"),
    ("qemu+ssh://host/system?netcat=/tmp/evil", "'netcat' is not allowed: it runs a program"),
    ("qemu+ssh://host/system?command=/tmp/evil", "'command' is not allowed"),
    ("qemu+tls://host/system?no_verify=1", "'no_verify' is not allowed"),
    ("qemu+ssh://user@host/system?keyfile=/home/u/.ssh/id", "'keyfile' is not allowed"),
    ("qemu+ssh://host/system?known_hosts=/tmp/mine", "'known_hosts' is not allowed"),
    ("qemu+ssh://host/system?proxy=/tmp/evil", "'proxy' is not allowed"),
    ("qemu+tcp://host/system?socket=/tmp/evil.sock", "'socket' is not allowed: it only goes with \\+unix"),
    ("qemu+unix:///system?socket=relative.sock", "must be an absolute path"),
    ("qemu+ssh://-oProxyCommand=evil/system", "cannot start with '-'"),
    ("qemu+ssh://-oProxyCommand=evil@host/system", "cannot start with '-'"),
    ("qemu+ssh://host/system?whatever=1", "'whatever' is not allowed"),
    ("qemu+ssh://<i>web-1<!--/system", "is not a host name or address"),
    ("qemu+tcp://ho st/system", "cannot contain spaces"),
])
def test_rejects_bad_uris_with_a_reason(uri, words):
    with pytest.raises(InvalidUri, match=words):
        parse_uri(uri)


def test_display_names_are_short_and_say_where():
    assert display_name("qemu+ssh://root@lab-b/system") == "lab-b over SSH"
    assert display_name("qemu+tls://lab-c/system") == display_name("qemu://lab-c/system") == "lab-c over TLS"
    assert display_name("qemu+tcp://10.0.0.5/system") == "10.0.0.5 over unencrypted TCP"
    assert display_name("lxc+ssh://lab-b/") == "LXC on lab-b over SSH"
    assert display_name("qemu:///system") == "This computer (system)"
    assert display_name("qemu:///session") == "This computer (session)"
    assert display_name("test:///default") == "Demo host"  # as setup and the first start name it
    assert display_name(LAB_URI) == "lab (test driver)"  # a host file of the test driver


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_accepted_or_refused_in_words(text):
    """Whatever is typed or stored, the check answers: a parsed URI or InvalidUri, nothing else."""
    try:
        parsed = parse_uri(text)
    except InvalidUri as exc:
        assert str(exc)
    else:
        assert parsed.transport != "ext" and not parsed.host.startswith("-")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["command", "netcat", "keyfile", "no_verify", "proxy", "known_hosts"]),
       st.text(alphabet="abc/-=._", max_size=20), st.sampled_from(["ssh", "tcp", "tls", "libssh", "unix"]))
def test_no_dangerous_parameter_passes_whatever_its_value(key, value, transport):
    host = "" if transport == "unix" else "host"
    with pytest.raises(InvalidUri, match=f"{key!r} is not allowed"):
        parse_uri(f"qemu+{transport}://{host}/system?{key}={value or 'x'}")
