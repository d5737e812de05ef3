"""A NoCloud seed for a cloud image: ``meta-data``, ``user-data`` and an optional
``network-config`` on an ISO 9660 image labelled ``cidata`` (Joliet and Rock Ridge names),
made in memory with ``pycdlib``. cloud-init in the guest reads it from the CD-ROM at boot.

The YAML files are written as JSON, which YAML reads as it is: every value the user typed
is quoted and escaped by the JSON encoder, never pasted into YAML text. Extra user-data is
a second part of a MIME multipart message (cloud-init's own way to combine parts).
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..core.names import name_problem

VOLUME_LABEL = "cidata"
MAX_EXTRA = 64 * 1024
_USER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass
class SeedConfig:
    user: str = "user"
    ssh_keys: list[str] = field(default_factory=list)  # public keys, one line each
    password_hash: str = ""   # a crypt(3) hash ("" : no password, the account's password locked)
    hostname: str = ""
    extra_user_data: str = ""  # the user's own #cloud-config or script, added as a second part
    network_config: str = ""   # a NoCloud network-config (version 2), as given

    def problem(self) -> str | None:
        """Why this seed cannot be made, in words, or None."""
        if not self.user or self.user[0] in "-0123456789" or set(self.user) - _USER_NAME_CHARS or len(self.user) > 32:
            return (f"the user name {self.user!r} is not usable: lower-case letters, digits, '_' and '-', "
                    "starting with a letter, at most 32 characters")
        if self.hostname and (len(self.hostname) > 63 or not all(c.isascii() and (c.isalnum() or c == "-")
                                                                 for c in self.hostname)
                              or self.hostname[0] == "-" or self.hostname[-1] == "-"):
            return f"the host name {self.hostname!r} is not usable: letters, digits and '-', at most 63"
        for key in self.ssh_keys:
            if "\n" in key.strip() or not key.strip().startswith(("ssh-", "ecdsa-", "sk-")):
                return f"{key[:40]!r}… is not an SSH public key (one line, starting ssh-, ecdsa- or sk-)"
        if self.password_hash and not self.password_hash.startswith("$"):
            return "the password hash is not a crypt(3) hash (it starts with '$', e.g. $6$...)"
        if len(self.extra_user_data) > MAX_EXTRA:
            return f"the extra user-data is larger than {MAX_EXTRA // 1024} KiB"
        if not self.ssh_keys and not self.password_hash:
            return "give an SSH public key or a password: without either nobody can log in"
        return None


def default_ssh_keys(home: Path | None = None) -> list[str]:
    """The public keys in ~/.ssh/*.pub (one line each), sorted by file name."""
    folder = (home or Path.home()) / ".ssh"
    keys = []
    for path in sorted(folder.glob("*.pub")):
        try:
            line = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if line and "\n" not in line:
            keys.append(line)
    return keys


def hash_password(password: str) -> str:
    """A SHA-512 crypt hash of ``password`` by ``openssl passwd -6`` (the password on its stdin,
    never in an argument another user could read)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed on this computer, and the password is hashed with it: "
                           "install openssl, or give no password and log in with an SSH key")
    done = subprocess.run([openssl, "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True,
                          text=True, timeout=10, check=True)
    return done.stdout.strip()


def meta_data(instance_id: str, hostname: str) -> str:
    return json.dumps({"instance-id": instance_id, "local-hostname": hostname}, indent=2) + "\n"


def user_data(config: SeedConfig) -> str:
    # sudo without a password: the account may have none (SSH keys only), as cloud images' default user
    user = {"name": config.user, "shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "lock_passwd": not config.password_hash}
    if config.password_hash:
        user["passwd"] = config.password_hash
    if config.ssh_keys:
        user["ssh_authorized_keys"] = [k.strip() for k in config.ssh_keys]
    cloud = {"users": [user], "ssh_pwauth": bool(config.password_hash)}
    if config.hostname:
        cloud["hostname"] = config.hostname
    text = "#cloud-config\n" + json.dumps(cloud, indent=2) + "\n"
    if not config.extra_user_data.strip():
        return text
    from email.mime.multipart import MIMEMultipart  # (here: the command line's start stays quick)
    from email.mime.text import MIMEText
    extra = config.extra_user_data
    subtype = "x-shellscript" if extra.startswith("#!") else "cloud-config"
    message = MIMEMultipart()
    for part, kind in ((text, "cloud-config"), (extra, subtype)):
        message.attach(MIMEText(part, kind, "utf-8"))
    return message.as_string()


def seed_files(config: SeedConfig, instance_id: str, hostname: str) -> dict[str, str]:
    """The files of the seed, by name (what the ISO holds, and what the review shows)."""
    files = {"meta-data": meta_data(instance_id, config.hostname or hostname),
             "user-data": user_data(config)}
    if config.network_config.strip():
        files["network-config"] = config.network_config
    return files


def build_iso(files: dict[str, str]) -> bytes:
    """The seed ISO in memory: ISO 9660 level 3 names in upper case, Joliet and Rock Ridge
    with the names cloud-init looks for."""
    import pycdlib  # (here: the command line's start stays quick)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME_LABEL)
    try:
        for name, text in files.items():
            data = text.encode("utf-8")
            iso9660 = "/" + name.upper().replace("-", "_") + ".;1"
            iso.add_fp(io.BytesIO(data), len(data), iso9660, rr_name=name, joliet_path="/" + name)
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()


def hostname_for(machine_name: str) -> str:
    """A host name made from a machine's name (letters, digits and '-'; at most 63)."""
    if name_problem(machine_name):
        return "localhost"
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in machine_name).strip("-")
    return safe[:63].strip("-") or "localhost"
