"""A test-driver host with a machine in every state and with awkward names."""
from ecp_desktop.testing.hostgen import RUNSTATE_NS, domain_xml

TRANSIENT = f'<test:transient xmlns:test="{RUNSTATE_NS}"/>'
MANAGED_SAVE = f'<test:hasmanagedsave xmlns:test="{RUNSTATE_NS}"/>'
LONG_NAME = "long-" + "x" * 295
# name -> (test-driver runstate, extra elements)
ZOO = {
    "running-vm": (1, ""), "paused-vm": (3, ""), "shutoff-vm": (5, ""), "crashed-vm": (6, ""),
    "suspended-vm": (7, ""), "transient-vm": (1, TRANSIENT), "saved-vm": (5, MANAGED_SAVE),
    "Ünïcode 名前 машина": (5, ""), "with  spaces & 'quotes'": (1, ""), LONG_NAME: (5, ""),
}


def write_zoo(path, *, drop=(), renames=None):
    """The host file; a domain keeps its UUID (its place in ZOO) across rewrites."""
    renames = renames or {}
    parts = []
    for index, (name, (runstate, extra)) in enumerate(ZOO.items()):
        if name in drop:
            continue
        uuid = f"33333333-3333-3333-3333-{index:012d}"
        parts.append(domain_xml(renames.get(name, name), uuid, runstate, 2, 512, index, extra))
    path.write_text("<node>\n" + "".join(parts) + "</node>\n", encoding="utf-8")
    return f"test://{path}"
