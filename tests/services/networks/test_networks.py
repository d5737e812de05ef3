"""Host → Networks… and ``network`` on libvirt's test driver (a private copy of test:///default's
network "default" and machine "test"): networks with the machines attached, a free subnet proposed,
each change a task, refusals naming the running machines."""
import pytest

from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.networks.networks import free_subnet
from ecp_desktop.services.networks.service import NetworkSpec
from ecp_desktop.services.tasks.records import SUCCEEDED
from ...helpers import NETWORKS_URI

DEMO = NETWORKS_URI


@pytest.fixture
def demo(services, run):
    host = services.inventory.add_host(DEMO)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return host


def networks(run, services):
    return {n.name: n for n in run(services.networks.read(DEMO))}


def test_a_network_says_its_mode_ranges_and_machines(run, services, demo):
    default = networks(run, services)["default"]
    assert (default.mode_text, default.bridge, default.ranges) == ("NAT", "virbr0", ("192.168.122.0/24",))
    assert default.dhcp == ("192.168.122.2 – 192.168.122.254",)
    assert default.machines == ("test",) and default.running == ("test",)


def test_a_nat_network_gets_a_free_subnet_and_bridge_and_can_be_deleted(run, services, demo):
    subnet, bridge = run(services.networks.proposal(DEMO))
    assert (subnet, bridge) == ("192.168.100.0/24", "virbr1")
    with pytest.raises(Refusal, match="overlaps 192.168.122.0/24, used by another network"):
        run(services.networks.create(DEMO, NetworkSpec("lab", subnet="192.168.122.128/25")))
    with pytest.raises(Refusal, match="exists on this host already"):
        run(services.networks.create(DEMO, NetworkSpec("default")))
    with pytest.raises(Refusal, match="a bridge name has at most 15"):
        run(services.networks.create(DEMO, NetworkSpec("lab", bridge="br; rm -rf /")))
    record = run(services.networks.create(DEMO, NetworkSpec("lab")))
    assert record.status == SUCCEEDED, record.outcome
    assert record.summary == "created and started network lab (192.168.100.0/24, bridge virbr1)"
    lab = networks(run, services)["lab"]
    assert lab.active and lab.autostart and lab.dhcp == ("192.168.100.2 – 192.168.100.254",)
    assert run(services.networks.proposal(DEMO)) == ("192.168.101.0/24", "virbr2")  # the next is free
    isolated = run(services.networks.create(DEMO, NetworkSpec("quiet", mode="", dhcp=False), autostart=False))
    assert isolated.status == SUCCEEDED
    quiet = networks(run, services)["quiet"]
    assert quiet.mode_text == "isolated" and quiet.dhcp == () and not quiet.autostart
    assert run(services.networks.stop(DEMO, "lab")).status == SUCCEEDED
    assert not networks(run, services)["lab"].active
    assert run(services.networks.delete(DEMO, "lab")).status == SUCCEEDED
    assert "lab" not in networks(run, services)


def test_a_network_running_machines_use_is_not_stopped_or_deleted(run, services, demo):
    with pytest.raises(Refusal, match=r"used by running machines \(test\); stopping it would cut them off"):
        run(services.networks.stop(DEMO, "default"))
    with pytest.raises(Refusal, match=r"used by running machines \(test\); not deleted"):
        run(services.networks.delete(DEMO, "default"))
    assert networks(run, services)["default"].active


def test_leases_are_libvirts_or_its_refusal(run, services, demo):
    """The test driver keeps no leases: its refusal in words (the lab reads a real dnsmasq's)."""
    from ecp_desktop.services.core.errors import HypervisorError
    with pytest.raises(HypervisorError, match="not supported by the connection driver"):
        run(services.networks.leases(DEMO, "default"))


def test_the_free_subnet_skips_every_overlap():
    import ipaddress
    taken = [ipaddress.ip_network("192.168.0.0/17")]
    assert str(free_subnet(taken)) == "192.168.128.0/24"
    every = [ipaddress.ip_network("192.168.0.0/16"), ipaddress.ip_network("10.0.0.0/8")]
    with pytest.raises(ValueError, match="no free private /24 subnet"):
        free_subnet(every)


def test_a_fixed_address_is_checked_added_live_and_removed(run, services, demo):
    nets = services.networks
    with pytest.raises(Refusal, match="not a MAC address"):
        run(nets.add_static_host(DEMO, "default", "52:54:00:zz:00:01", "192.168.122.50"))
    with pytest.raises(Refusal, match="in none of network default's subnets"):
        run(nets.add_static_host(DEMO, "default", "52:54:00:00:00:01", "10.0.0.5"))
    with pytest.raises(Refusal, match="the network's own or its broadcast address"):
        run(nets.add_static_host(DEMO, "default", "52:54:00:00:00:01", "192.168.122.1"))
    with pytest.raises(Refusal, match="not a host name"):
        run(nets.add_static_host(DEMO, "default", "52:54:00:00:00:01", "192.168.122.50", "web 01"))
    record = run(nets.add_static_host(DEMO, "default", "AA:BB:CC:DD:EE:FF", "192.168.122.50", "test"))
    assert record.status == SUCCEEDED, record.error_message
    [fixed] = networks(run, services)["default"].static_hosts
    assert (fixed.mac, fixed.ip, fixed.hostname, fixed.machine) == ("aa:bb:cc:dd:ee:ff", "192.168.122.50", "test",
                                                                   "test")
    with pytest.raises(Refusal, match="has the fixed address 192.168.122.50 already"):
        run(nets.add_static_host(DEMO, "default", "aa:bb:cc:dd:ee:ff", "192.168.122.51"))
    with pytest.raises(Refusal, match="is fixed for aa:bb:cc:dd:ee:ff already"):
        run(nets.add_static_host(DEMO, "default", "52:54:00:00:00:02", "192.168.122.50"))
    host = services.inventory.hosts[DEMO]
    live = run(host.call(lambda conn: conn.networkLookupByName("default").XMLDesc(0)))
    assert "<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>" in live
    assert run(nets.remove_static_host(DEMO, "default", "aa:bb:cc:dd:ee:ff")).status == SUCCEEDED
    assert networks(run, services)["default"].static_hosts == ()
    with pytest.raises(Refusal, match="has no fixed address for aa:bb:cc:dd:ee:ff"):
        run(nets.remove_static_host(DEMO, "default", "aa:bb:cc:dd:ee:ff"))


def test_networks_onto_the_hosts_lan_and_a_dns_domain(run, services, demo):
    nets = services.networks
    with pytest.raises(Refusal, match="names the host's bridge"):
        run(nets.create(DEMO, NetworkSpec("lan", mode="bridge")))
    with pytest.raises(Refusal, match="names the host's device"):
        run(nets.create(DEMO, NetworkSpec("direct", mode="macvtap")))
    with pytest.raises(Refusal, match="is not a DNS domain"):
        run(nets.create(DEMO, NetworkSpec("lab", dns_domain="lab..example")))
    lan = run(nets.create(DEMO, NetworkSpec("lan", mode="bridge", bridge="br0")))
    assert lan.status == SUCCEEDED and lan.summary == "created and started network lan (guests on the host's " \
                                                      "LAN through br0)"
    direct = run(nets.create(DEMO, NetworkSpec("direct", mode="macvtap", forward_dev="eth0")))
    assert direct.status == SUCCEEDED, direct.error_message
    lab = run(nets.create(DEMO, NetworkSpec("lab", dns_domain="lab.example")))
    assert lab.status == SUCCEEDED, lab.error_message
    rows = networks(run, services)
    assert (rows["lan"].mode_text, rows["lan"].bridge, rows["lan"].ranges) == ("bridge to a host bridge", "br0", ())
    assert rows["direct"].mode_text == "macvtap bridge"
    host = services.inventory.hosts[DEMO]
    assert "<domain name='lab.example'/>" in run(host.call(lambda c: c.networkLookupByName("lab").XMLDesc(0)))
    assert "<interface dev='eth0'/>" in run(host.call(lambda c: c.networkLookupByName("direct").XMLDesc(0)))


def test_a_local_hosts_routes_are_taken_too():
    from ecp_desktop.services.networks.networks import routed_subnets
    table = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
             "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"   # default: left out
             "eth0\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"   # 192.168.100.0/24
             "tun0\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"   # 10.8.0.0/16
             "bad\tzz\n")
    taken = routed_subnets(table)
    assert [str(n) for n in taken] == ["192.168.100.0/24", "10.8.0.0/16"]
    assert str(free_subnet(taken)) == "192.168.101.0/24"  # the LAN is not proposed again
