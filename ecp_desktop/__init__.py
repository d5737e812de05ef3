"""ECP Desktop: a desktop manager for libvirt virtual machines."""
from pathlib import Path

__version__ = "0.1.0"
APP_NAME = "ECP Desktop"
APP_ID = "io.github.ecp_desktop.EcpDesktop"


def _resources() -> Path:
    """The desktop entry, metainfo and icons: inside the package when installed from a wheel,
    the repository's resources/ when run from a checkout (or an editable install)."""
    here = Path(__file__).resolve().parent
    for folder in (here / "resources", here.parent / "resources"):
        if (folder / "applications" / f"{APP_ID}.desktop").is_file():
            return folder
    return here / "resources"


RESOURCES = _resources()
