"""ECP Desktop: a desktop manager for libvirt virtual machines."""

__version__ = "0.1.0"
APP_NAME = "ECP Desktop"
APP_ID = "io.github.ecp_desktop.EcpDesktop"
