"""The remedy table: each entry meets a real libvirt error of its kind, provoked on libvirt's
test driver, on a socket that does not exist, a port nobody listens on or a host name that
cannot resolve; the few that no local libvirt can produce get libvirt's words for them. The
error dialog shows the entry's remedy under "machine or host: libvirt's own words"."""
import errno
import shutil

import libvirt
import pytest

from ecp_desktop.services.core import remedies
from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.views.common.error_dialog import ErrorDialog

from ...helpers import LAB_URI

MISSING_SOCKET = "qemu+unix:///system?socket=/nonexistent"
UNKNOWN_HOST = "qemu+tcp://no-such-host.invalid/system"
REFUSED = "qemu+tcp://127.0.0.1:1/system"  # nothing listens on port 1
AUTH_XML = ("<node><auth><user password='secret'>alice</user></auth>"
            "<domain type='test'><name>d1</name><memory>1024</memory><os><type>hvm</type></os></domain></node>")
DUPLICATE = "<domain type='test'><name>web01</name><memory>1024</memory><os><type>hvm</type></os></domain>"


def opening(uri):
    def call(_tmp_path):
        libvirt.open(uri).close()
    return call, uri


def on_lab(action):
    """``action(conn)`` on a fresh connection to the lab host (a file host: nothing it
    changes outlives the connection)."""
    def call(_tmp_path):
        conn = libvirt.open(LAB_URI)
        try:
            action(conn)
        finally:
            conn.close()
    return call, LAB_URI


def wrong_password(tmp_path):
    path = tmp_path / "auth.xml"
    path.write_text(AUTH_XML)

    def answer(creds, _opaque):
        for cred in creds:
            cred[4] = "alice" if cred[0] == libvirt.VIR_CRED_AUTHNAME else "wrong"
        return 0
    libvirt.openAuth(f"test://{path}", [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], answer, None], 0)


def closed_connection(_tmp_path):
    conn = libvirt.open(LAB_URI)
    conn.close()
    conn.listAllDomains()


def duplicate_volume(conn):
    conn.storagePoolLookupByName("default").createXML(
        "<volume><name>web01.img</name><capacity>1</capacity></volume>", 0)


# (entry key, how to provoke it, the host it ran on)
PROVOKED = [
    ("daemon-not-running", *opening(MISSING_SOCKET)),
    ("name-not-resolved", *opening(UNKNOWN_HOST)),
    ("connection-refused", *opening(REFUSED)),
    ("system-error", *on_lab(lambda c: c.lookupByName("web01").save("/nonexistent-dir/web01.save"))),
    ("auth-failed", wrong_password, "test:///auth.xml"),
    ("invalid-conn", closed_connection, LAB_URI),
    ("already-running", *on_lab(lambda c: c.lookupByName("web01").create())),          # INTERNAL_ERROR
    ("already-running", *on_lab(lambda c: c.networkLookupByName("default").create())),  # OPERATION_INVALID
    ("not-running", *on_lab(lambda c: c.lookupByName("stopped01").destroy())),          # OPERATION_INVALID
    ("not-running", *on_lab(lambda c: c.lookupByName("stopped01").shutdown())),         # INTERNAL_ERROR
    ("not-paused", *on_lab(lambda c: c.lookupByName("web01").resume())),
    ("pool-not-active", *on_lab(lambda c: (c.storagePoolLookupByName("default").destroy(),
                                           c.storagePoolLookupByName("default").listAllVolumes()))),
    ("operation-invalid", *on_lab(lambda c: c.lookupByName("web01").rename("web02", 0))),
    ("name-taken", *on_lab(lambda c: c.createXML(DUPLICATE, 0))),
    ("operation-failed", *on_lab(duplicate_volume)),
    ("no-domain", *on_lab(lambda c: c.lookupByName("ghost"))),
    ("no-object", *on_lab(lambda c: c.networkLookupByName("no-such-net"))),
    ("no-object", *on_lab(lambda c: c.storageVolLookupByPath("/no/such/volume"))),
    ("invalid-arg", *on_lab(lambda c: c.lookupByName("web01").setVcpus(1000))),
    ("no-support", *on_lab(lambda c: c.lookupByName("web01").blockCommit("vda", None, None))),
    ("argument-unsupported", *on_lab(lambda c: c.lookupByName("web01").migrateToURI3("test:///default", {}, 0))),
    ("config-unsupported", *on_lab(lambda c: c.defineXML("<domain type='foo'><name>x</name></domain>"))),
    ("xml-error", *on_lab(lambda c: c.defineXML("<domain type='test'><name>x</name></domain>"))),
    ("xml-detail", *on_lab(lambda c: c.defineXML("<domain type='test'><name>half"))),
]
if shutil.which("ssh"):  # libvirt's ssh transport runs the ssh client: its words, in libvirt's message
    PROVOKED += [("name-not-resolved", *opening("qemu+ssh://root@no-such-host.invalid/system")),
                 ("connection-refused", *opening("qemu+ssh://root@127.0.0.1:1/system"))]

E = libvirt
# What no local libvirt produces (a remote host, a real hypervisor, an access driver, a
# non-root user): libvirt's own words for them, code, component and errno as it sets them.
CONSTRUCTED = {
    "socket-permission": HypervisorError("Failed to connect socket to '/var/run/libvirt/libvirt-sock': "
                                         "Permission denied", code=E.VIR_ERR_SYSTEM_ERROR, domain=E.VIR_FROM_RPC,
                                         int1=errno.EACCES),
    "ssh-host-key": HypervisorError("Cannot recv data: Host key verification failed.: Connection reset by peer",
                                    code=E.VIR_ERR_SYSTEM_ERROR, domain=E.VIR_FROM_RPC, int1=errno.ECONNRESET),
    "ssh-login-refused": HypervisorError("Cannot recv data: root@lab-b: Permission denied (publickey,password).: "
                                         "Connection reset by peer", code=E.VIR_ERR_SYSTEM_ERROR,
                                         domain=E.VIR_FROM_RPC, int1=errno.ECONNRESET),
    "host-unreachable": HypervisorError("unable to connect to server at 'lab-b:16509': No route to host",
                                        code=E.VIR_ERR_SYSTEM_ERROR, domain=E.VIR_FROM_RPC, int1=errno.EHOSTUNREACH),
    # the app's own words for a TCP daemon that does not answer (services/hosts/reachability.py)
    "no-answer": HypervisorError("unable to connect to server at 'lab-b:16509': no answer within 5 s",
                                 code=E.VIR_ERR_OPERATION_TIMEOUT, domain=E.VIR_FROM_RPC),
    "transport-closed": HypervisorError("End of file while reading data: sh: 1: nc: not found: Input/output error",
                                        code=E.VIR_ERR_SYSTEM_ERROR, domain=E.VIR_FROM_RPC, int1=errno.EIO),
    "no-connect": HypervisorError("no connection driver available for bhyve:///system",
                                  code=E.VIR_ERR_NO_CONNECT, domain=E.VIR_FROM_NONE),
    "auth-cancelled": HypervisorError("authentication cancelled", code=E.VIR_ERR_AUTH_CANCELLED,
                                      domain=E.VIR_FROM_AUTH),
    "access-denied": HypervisorError("access denied: 'start' on domain 'web01'", code=E.VIR_ERR_ACCESS_DENIED,
                                     domain=E.VIR_FROM_ACCESS),
    "rpc": HypervisorError("unknown procedure: 451", code=E.VIR_ERR_RPC, domain=E.VIR_FROM_RPC),
    # what QEMU's driver says when a machine's network is stopped (the test driver does not check)
    "network-not-active": HypervisorError("Requested operation is not valid: network 'default' is not active",
                                          code=E.VIR_ERR_OPERATION_INVALID, domain=E.VIR_FROM_NETWORK),
    "dom-exist": HypervisorError("domain 'web01' already exists", code=E.VIR_ERR_DOM_EXIST, domain=E.VIR_FROM_QEMU),
    "operation-timeout": HypervisorError("Timed out during operation: cannot acquire state change lock",
                                         code=E.VIR_ERR_OPERATION_TIMEOUT, domain=E.VIR_FROM_QEMU),
    "operation-aborted": HypervisorError("operation aborted: migration out job: canceled by client",
                                         code=E.VIR_ERR_OPERATION_ABORTED, domain=E.VIR_FROM_QEMU),
    "resource-busy": HypervisorError("resource busy: Disk '/srv/web01.qcow2' is already in use",
                                     code=E.VIR_ERR_RESOURCE_BUSY, domain=E.VIR_FROM_QEMU),
    "cpu-incompatible": HypervisorError("the CPU is incompatible with host CPU: Host CPU does not provide required "
                                        "features: avx512f", code=E.VIR_ERR_CPU_INCOMPATIBLE, domain=E.VIR_FROM_CPU),
    "migrate-unsafe": HypervisorError("Unsafe migration: Migration may lead to data corruption if disks use cache "
                                      "other than none or directsync", code=E.VIR_ERR_MIGRATE_UNSAFE,
                                      domain=E.VIR_FROM_QEMU),
    "migrate-persist-failed": HypervisorError("Failed to make domain persistent after migration",
                                              code=E.VIR_ERR_MIGRATE_PERSIST_FAILED, domain=E.VIR_FROM_QEMU),
    "internal-error": HypervisorError("internal error: client socket is closed", code=E.VIR_ERR_INTERNAL_ERROR,
                                      domain=E.VIR_FROM_RPC),
}


def provoke(call, uri, tmp_path) -> HypervisorError:
    try:
        call(tmp_path)
    except libvirt.libvirtError as exc:
        return HypervisorError.from_libvirt(exc, operation="test", host_uri=uri)
    raise AssertionError("libvirt did not fail")


def test_every_entry_is_tested_and_every_key_is_unique():
    keys = [r.key for r in remedies.REMEDIES]
    assert len(keys) == len(set(keys))
    assert set(keys) == {k for k, *_ in PROVOKED} | set(CONSTRUCTED)
    assert not {k for k, *_ in PROVOKED} & set(CONSTRUCTED), "an entry libvirt can produce is provoked for real"
    for entry in remedies.REMEDIES:
        assert all(hasattr(libvirt, f"VIR_ERR_{code}") for code in entry.codes), entry.key
        assert all(hasattr(libvirt, f"VIR_FROM_{d}") for d in entry.domains), entry.key
        assert entry.summary.endswith(".") and entry.remedy.endswith("."), entry.key


def _check_in_dialog(qtbot, key, error, subject):
    assert error.advice.key == key, f"{error.code_name}/{error.domain_name} {error.message!r}"
    dialog = ErrorDialog("Failed", [(subject, error)])
    qtbot.addWidget(dialog)
    assert dialog.headline.text() == error.headline(subject)
    assert dialog.headline.text().startswith(f"{subject}: ")
    assert error.remedy in dialog.remedy.text() and error.summary in dialog.remedy.text()


@pytest.mark.parametrize("key, call, uri", PROVOKED, ids=[f"{k}-{i}" for i, (k, *_) in enumerate(PROVOKED)])
def test_a_real_error_gets_its_entry_and_the_dialog_shows_its_remedy(qtbot, tmp_path, key, call, uri):
    error = provoke(call, uri, tmp_path)
    _check_in_dialog(qtbot, key, error, uri)


@pytest.mark.parametrize("key", sorted(CONSTRUCTED))
def test_errors_no_local_libvirt_produces_get_their_entry(qtbot, key):
    _check_in_dialog(qtbot, key, CONSTRUCTED[key], "lab-b")


def test_the_three_ways_a_connection_fails_at_first(tmp_path):
    socket = provoke(*opening(MISSING_SOCKET), tmp_path)
    assert socket.code_name == "SYSTEM_ERROR" and socket.domain_name == "RPC" and socket.int1 == errno.ENOENT
    assert socket.plain_reason() == "libvirtd is not running (systemctl start libvirtd)"
    assert "systemctl start libvirtd" in socket.remedy and "not running" in socket.summary
    unknown = provoke(*opening(UNKNOWN_HOST), tmp_path)
    assert unknown.summary.startswith("Could not resolve the host name") and "no-such-host.invalid" in unknown.message
    assert unknown.plain_reason().startswith("could not resolve the host name")
    refused = provoke(*opening(REFUSED), tmp_path)
    assert "Connection refused" in refused.message and "could not be reached" in refused.summary
    # one_line (task rows, the CLI) keeps libvirt's words beside the summary
    assert refused.one_line() == f"{refused.summary} ({refused.message})"


def test_libvirt_words_lose_only_the_prefix_that_repeats_the_code(tmp_path):
    running = provoke(*on_lab(lambda c: c.lookupByName("web01").create()), tmp_path)
    assert running.message == "internal error: Domain 'web01' is already running"
    assert running.headline("web01") == "web01: Domain 'web01' is already running"
    assert running.plain_reason() == "Domain 'web01' is already running"  # no short reason: libvirt's words
    assert remedies.own_words("Domain not found") == "Domain not found"
    assert remedies.own_words("Requested operation is not valid: domain is not running") == "Domain is not running"


def test_a_headline_is_one_line_of_data():
    error = HypervisorError("XML error: <b>x</b>\u202e\x1b[2J\nsecond line", code=libvirt.VIR_ERR_XML_ERROR)
    line = error.headline("<i>web-1<!--")
    assert line == "<i>web-1<!--: <b>x</b>\\u202e\\x1b[2J"
    assert error.advice.key == "xml-error"


def test_an_error_without_an_entry_gets_the_generic_words():
    odd = HypervisorError("odd", code=9999)
    assert odd.advice is remedies.GENERIC and odd.summary == "libvirt reported an error." and odd.remedy
    old = HypervisorError("no code at all")  # a row written by an old version
    assert old.advice is remedies.GENERIC and old.plain_reason() == "no code at all"
