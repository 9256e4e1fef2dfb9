from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from shim_support import SHIMS, Prefix


def plist_dict(xml: str) -> dict[str, object]:
    root = ET.fromstring(xml)
    assert root.tag == "plist"
    return parse(root[0])  # type: ignore[return-value]


def parse(node: ET.Element) -> object:
    if node.tag == "dict":
        items = list(node)
        keys = [k.text for k in items[0::2]]
        assert all(k.tag == "key" for k in items[0::2])
        return dict(zip(keys, (parse(v) for v in items[1::2]), strict=True))
    if node.tag == "array":
        return [parse(v) for v in node]
    if node.tag in ("true", "false"):
        return node.tag == "true"
    if node.tag == "integer":
        return int(node.text or "")
    assert node.tag == "string", node.tag
    return node.text or ""


@pytest.mark.parametrize("target", ["/", "/nix", "disk0s1", "/dev/disk0s1", "Macintosh HD"])
def test_info_plist_volume(prefix: Prefix, target: str) -> None:
    (prefix.root / "nix").mkdir()
    proc = prefix.run("diskutil", "info", "-plist", target, check=True)
    info = plist_dict(proc.stdout)
    assert info["GlobalPermissionsEnabled"] is True
    assert info["Writable"] is True and info["WritableVolume"] is True
    assert info["Ejectable"] is False
    assert info["MountPoint"] == "/"
    assert info["DeviceIdentifier"] == "disk0s1"
    assert info["ParentWholeDisk"] == "disk0"
    assert info["FilesystemType"] == "apfs"
    assert info["FilesystemName"] == "APFS"
    assert info["VolumeName"] == "Macintosh HD"
    assert isinstance(info["TotalSize"], int) and info["TotalSize"] > 0


def test_info_text(prefix: Prefix) -> None:
    out = prefix.run("diskutil", "info", "/", check=True).stdout
    assert "   Device Identifier:         disk0s1\n" in out
    assert "   Mount Point:               /\n" in out
    assert "   Owners:                    Enabled\n" in out


def test_info_whole_disk(prefix: Prefix) -> None:
    info = plist_dict(prefix.run("diskutil", "info", "-plist", "disk0", check=True).stdout)
    assert info["WholeDisk"] is True and info["DeviceIdentifier"] == "disk0"


@pytest.mark.parametrize("target", ["/nix", "/no/such/path", "disk9", "Nix Store"])
def test_info_unknown(prefix: Prefix, target: str) -> None:
    proc = prefix.run("diskutil", "info", "-plist", target)
    assert proc.returncode == 1
    assert proc.stderr == f"Could not find disk: {target}\n"
    assert proc.stdout == ""


def test_list(prefix: Prefix) -> None:
    out = prefix.run("diskutil", "list", check=True).stdout
    assert out.startswith("/dev/disk0 (synthesized):\n")
    assert "disk0s1" in out
    data = plist_dict(prefix.run("diskutil", "list", "-plist", check=True).stdout)
    assert data["AllDisks"] == ["disk0", "disk0s1"]
    assert data["WholeDisks"] == ["disk0"]
    assert data["VolumesFromDisks"] == ["Macintosh HD"]
    disk = data["AllDisksAndPartitions"][0]  # type: ignore[index]
    assert disk["APFSVolumes"][0]["MountPoint"] == "/"


def test_eject_uses_darlings_diskutil(prefix: Prefix, tmp_path) -> None:
    real = tmp_path / "diskutil.darling"
    real.write_text('#!/bin/sh\necho "real diskutil: $*"\n')
    real.chmod(0o755)
    proc = prefix.run("diskutil", "eject", "disk2", DARLING_DISKUTIL_REAL=str(real), check=True)
    assert proc.stdout == "real diskutil: eject disk2\n"
    proc = prefix.run("diskutil", "eject", "disk2", DARLING_DISKUTIL_REAL=str(tmp_path / "none"))
    assert proc.returncode == 1 and "eject" in proc.stderr and proc.stdout == ""


def test_eject_default_is_next_to_the_shim(tmp_path, shell: str) -> None:
    shutil.copyfile(SHIMS / "diskutil", tmp_path / "diskutil")
    real = tmp_path / "diskutil.darling"
    real.write_text('#!/bin/sh\necho "darling $*"\n')
    real.chmod(0o755)
    proc = subprocess.run(
        [shell, str(tmp_path / "diskutil"), "eject", "/Volumes/X"], capture_output=True, text=True
    )
    assert proc.stdout == "darling eject /Volumes/X\n"


@pytest.mark.parametrize(
    "args", [[], ["info"], ["info", "-plist"], ["frobnicate"], ["list", "extra"]]
)
def test_usage(prefix: Prefix, args: list[str]) -> None:
    proc = prefix.run("diskutil", *args)
    assert proc.returncode != 0 and proc.stderr and proc.stdout == ""
