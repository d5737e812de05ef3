"""Screenshots of Machine → New Machine… (a cloud image: who logs in, then the summary with
the domain XML) and Machine → Edit Hardware… (the review: what applies now, what waits for
the next boot, the diff). Run under Xvfb:
    xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_new_machine.py OUTDIR
On libvirt's test driver, through a host file with a pool holding a cloud image and an ISO.
Writes new-machine-cloud.png, new-machine-summary.png and edit-hardware.png."""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QWidget, QWizard

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.testing.inventory import set_up_inventory
from ecp_desktop.views.common.qt_process import make_qt_app

HOST_XML = """<node>
  <domain type='test'><name>web-frontend</name><uuid>33333333-0000-4000-8000-000000000001</uuid>
    <memory unit='MiB'>1024</memory><currentMemory unit='MiB'>1024</currentMemory><vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices><disk type='file' device='disk'><source file='/pool-a/web-frontend.qcow2'/>
      <target dev='vda' bus='virtio'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
    </devices></domain>
  <network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'>
    <name>pool-a</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e5302</uuid>
    <target><path>/pool-a</path></target>
    <volume type='file'><name>debian-12-genericcloud.qcow2</name><capacity unit='GiB'>2</capacity>
      <allocation unit='MiB'>400</allocation><target><format type='qcow2'/></target></volume>
    <volume type='file'><name>web-frontend.qcow2</name><capacity unit='GiB'>10</capacity>
      <allocation unit='GiB'>2</allocation><target><format type='qcow2'/></target></volume>
  </pool>
</node>
"""
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC8hbHsa9bm0sw2M4ZYy0kv0Xn1r3DQfN3lhD3gnpJ5B me@laptop"


async def until(condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise SystemExit("timed out waiting for the dialog")


async def next_page(wizard) -> None:
    button = wizard.button(QWizard.WizardButton.NextButton)
    await until(button.isEnabled)
    button.click()
    await asyncio.sleep(0.2)


async def shoot(out: Path, work: Path) -> None:
    from ecp_desktop.services.hardware.service import HardwareService
    from ecp_desktop.views.hardware.hardware_dialog import HardwareDialog
    from ecp_desktop.views.new_machine.new_machine_pages import CLOUD, SOURCE, SUMMARY
    from ecp_desktop.views.new_machine.new_machine_wizard import open_new_machine_wizard
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    services = build_services()
    host_file = work / "host.xml"
    host_file.write_text(HOST_XML)
    host = services.inventory.add_host(f"test://{host_file}")
    await services.inventory.connect_host(host)
    await services.inventory.load_host(host)
    parent = QWidget()
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri)
    await until(lambda: wizard.offer is not None and not wizard.busy())
    source = wizard.page(SOURCE)
    source.name.setText("build-runner-1")
    source.sources.button(1).click()  # a cloud image
    source.volumes.setCurrentIndex(source.volumes.findData("/pool-a/debian-12-genericcloud.qcow2"))
    source.volumes.activated.emit(source.volumes.currentIndex())
    await next_page(wizard)
    await next_page(wizard)
    wizard.page(CLOUD).keys.setPlainText(KEY)
    await asyncio.sleep(0.3)
    wizard.grab().save(str(out / "new-machine-cloud.png"))
    await next_page(wizard)
    await next_page(wizard)
    await until(lambda: wizard.currentId() == SUMMARY and wizard.plan is not None)
    await asyncio.sleep(0.3)
    wizard.grab().save(str(out / "new-machine-summary.png"))
    wizard.reject()

    machine = next(m for m in services.inventory.machines_of(host.uri) if m.name == "web-frontend")
    dialog = HardwareDialog(HardwareService(services.inventory, services.engine), machine, parent)
    dialog.resize(900, 640)
    dialog.show()
    dialog.start()
    await until(lambda: dialog.facts is not None)
    dialog.cpu.max_memory.setValue(2048)
    dialog.cpu.memory.setValue(2048)
    dialog.cpu.max_vcpus.setValue(2)
    dialog.cpu.vcpus.setValue(2)
    dialog.tabs.setCurrentIndex(dialog.tabs.count() - 1)
    await asyncio.sleep(0.5)
    dialog.grab().save(str(out / "edit-hardware.png"))
    dialog.close()
    services.shutdown()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = make_qt_app(sys.argv[:1])
    register_event_impl()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as work, loop:
        loop.run_until_complete(shoot(out, Path(work)))
    print(out / "new-machine-summary.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
