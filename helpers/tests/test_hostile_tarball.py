"""Hostile Nix tarballs given to `install-nix`: every one is refused with one line and exit 2,
before the prefix's store changes, and nothing outside the prefix (the sentinel) changes.
The checks of nixtarball.py are also exercised directly where the CLI cannot reach them
(bounds lowered for the test, members that are accepted)."""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tarballs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentinel import Sentinel, assert_refused, snapshot
from tarballs import PACKAGE, STORE, TOP, Member, base, directory, link, regular, special

from darling_nix import nixinstall, nixtarball
from darling_nix.config import load_config
from darling_nix.fsutil import Directory


def contents(root: Path) -> dict[str, tuple[object, ...]]:
    """The tree under ROOT without times (making and removing staging touches the store's)."""
    return {k: (*v[:4], v[5]) for k, v in snapshot(root).items()}


# From the staging directory <prefix>/nix/store/.darling-nix-unpack-PID to <tmp>/outside.
UP_TO_OUTSIDE = "../../../../outside"


@dataclass
class Installer:
    config_file: Path
    prefix: Path

    @property
    def store(self) -> Path:
        return self.prefix / "nix" / "store"

    def run(self, cli: Any, tarball: Path, digest: str | None = None) -> Any:
        if digest is None:
            digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        return cli("install-nix", "--config", str(self.config_file), "--tarball", str(tarball),
                   "--sha256", digest, timeout=60)


@pytest.fixture
def installer(initialised_config: Path) -> Installer:
    """An initialised prefix without Nix, at <tmp>/prefix (the sentinel is <tmp>/outside)."""
    return Installer(initialised_config, load_config(initialised_config).prefix_path)


Build = Callable[[Path], list[Member]]

# (test id, members given the sentinel's root, words the refusal must name)
HOSTILE: list[tuple[str, Build, tuple[str, ...]]] = [
    ("hard link to an absolute outside file, then a member of its name",
     lambda out: [*base(), link(f"{PACKAGE}/h", str(out / "file"), tarfile.LNKTYPE),
                  regular(f"{PACKAGE}/h", b"overwritten\n")], ("hard link",)),
    ("hard link climbing out with ..",
     lambda out: [*base(), link(f"{PACKAGE}/h", f"{STORE}/{UP_TO_OUTSIDE}/file",
                                tarfile.LNKTYPE)], ("hard link",)),
    ("hard link to a member that comes later",
     lambda out: [*base(), link(f"{PACKAGE}/h", f"{PACKAGE}/later", tarfile.LNKTYPE),
                  regular(f"{PACKAGE}/later")], ("hard link", "not a file unpacked before")),
    ("hard link to a directory member",
     lambda out: [*base(), link(f"{PACKAGE}/h", f"{PACKAGE}/bin", tarfile.LNKTYPE)],
     ("hard link",)),
    ("character device", lambda out: [*base(), special(f"{PACKAGE}/null", tarfile.CHRTYPE)],
     ("character device",)),
    ("block device", lambda out: [*base(), special(f"{PACKAGE}/sda", tarfile.BLKTYPE)],
     ("block device",)),
    ("FIFO", lambda out: [*base(), special(f"{PACKAGE}/pipe", tarfile.FIFOTYPE)], ("FIFO",)),
    ("contiguous file", lambda out: [*base(), special(f"{PACKAGE}/c", tarfile.CONTTYPE)],
     ("tar type",)),
    ("symlink to an absolute outside directory, then a member through it",
     lambda out: [*base(), link(f"{PACKAGE}/evil", str(out / "dir")),
                  regular(f"{PACKAGE}/evil/secret", b"overwritten\n")], ("symbolic link",)),
    ("symlink climbing out of the store",
     lambda out: [*base(), link(f"{PACKAGE}/evil", UP_TO_OUTSIDE)], ("outside /nix/store",)),
    ("symlink with .. after a name",
     lambda out: [*base(), link(f"{PACKAGE}/up", "bin/../../../.."),
                  regular(f"{PACKAGE}/up/x")], ("outside /nix/store",)),
    ("symlink to the store directory itself",
     lambda out: [*base(), link(f"{PACKAGE}/store", "/nix/store")], ("outside /nix/store",)),
    ("symlink with .. in an absolute target",
     lambda out: [*base(), link(f"{PACKAGE}/abs", "/nix/store/../../etc")],
     ("outside /nix/store",)),
    ("store path that is a symlink out",
     lambda out: [*base(), link(f"{STORE}/bbb-evil", str(out))], ("outside /nix/store",)),
    ("member through a symlink planted by an earlier member (inside the store)",
     lambda out: [*base(), directory(f"{STORE}/ccc-other"),
                  link(f"{PACKAGE}/hop", "../ccc-other"),
                  regular(f"{PACKAGE}/hop/planted")], ("lies below", "symbolic link")),
    ("member below a regular file",
     lambda out: [*base(), regular(f"{PACKAGE}/bin/nix-store/below")], ("lies below",)),
    ("absolute member name", lambda out: [*base(), regular(str(out / "file"))],
     ("absolute name",)),
    ("member climbing out with ..",
     lambda out: [*base(), regular(f"{STORE}/{UP_TO_OUTSIDE}/file", b"x")], ("'..'",)),
    ("member outside nix-*/", lambda out: [*base(), regular("outside/file")],
     ("outside the tarball's nix-*/",)),
    ("newline in a name", lambda out: [*base(), regular(f"{PACKAGE}/a\nb")],
     ("control character",)),
    ("duplicate member", lambda out: [*base(), regular(f"{PACKAGE}/bin/nix-store", b"again")],
     ("appears twice",)),
    ("duplicate .reginfo", lambda out: [*base(), regular(f"{TOP}/.reginfo", b"second")],
     ("appears twice",)),
    ("directory over an earlier file",
     lambda out: [*base(), directory(f"{PACKAGE}/bin/nix-store")], ("appears twice",)),
    (".reginfo that is a symlink",
     lambda out: [link(f"{TOP}/.reginfo", str(out / "file")), *base()[1:]],
     ("not a regular file",)),
    ("nested deeper than the bound",
     lambda out: [*base(), regular(f"{PACKAGE}/" + "d/" * nixtarball.MAX_DEPTH + "f")],
     ("nested deeper",)),
    ("name longer than the bound",
     lambda out: [*base(), regular(f"{PACKAGE}/" + "n" * (nixtarball.MAX_NAME_BYTES + 1))],
     ("longer than",)),
]


@pytest.mark.parametrize(("build", "words"), [(b, w) for _, b, w in HOSTILE],
                         ids=[i for i, _, _ in HOSTILE])
def test_hostile_member_is_refused(installer: Installer, sentinel: Sentinel, cli: Any,
                                   tmp_path: Path, build: Build, words: tuple[str, ...]) -> None:
    before = contents(installer.prefix)
    tarball = tarballs.write(tmp_path / "nix.tar.xz", build(sentinel.root))
    assert_refused(installer.run(cli, tarball), "member", *words)
    sentinel.assert_unchanged()
    assert contents(installer.prefix) == before  # nothing left in staging or the store


def test_sparse_members_are_refused(installer: Installer, sentinel: Sentinel, cli: Any,
                                    tmp_path: Path) -> None:
    old_gnu = special(f"{PACKAGE}/old-sparse", tarfile.GNUTYPE_SPARSE)
    pax_map = b"1\n0\n10\n".ljust(512, b"\0") + b"x" * 10
    pax, _ = regular(f"{STORE}/GNUSparseFile.0/sp", pax_map)
    pax.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                       "GNU.sparse.name": f"{PACKAGE}/pax-sparse", "GNU.sparse.realsize": "99"}
    for members, form in (([*base(), old_gnu], tarfile.GNU_FORMAT),
                          ([*base(), (pax, pax_map)], tarfile.PAX_FORMAT)):
        tarball = tarballs.write(tmp_path / "sparse.tar.xz", members, form)
        assert_refused(installer.run(cli, tarball), "sparse file")
    sentinel.assert_unchanged()


@pytest.mark.parametrize(("path", "words"), [
    (f"{STORE}/{UP_TO_OUTSIDE}/file", "'..'"),
    (f"{PACKAGE}/bin/nix-store\x00/{UP_TO_OUTSIDE}/file", "control character"),
], ids=["climbing out", "NUL byte"])
def test_pax_path_is_checked(installer: Installer, sentinel: Sentinel, cli: Any,
                             tmp_path: Path, path: str, words: str) -> None:
    """A pax header's path replaces the member's name: that is the name checked."""
    info, data = regular(f"{PACKAGE}/harmless", b"overwritten\n")
    info.pax_headers = {"path": path}
    tarball = tarballs.write(tmp_path / "pax.tar.xz", [*base(), (info, data)],
                             tarfile.PAX_FORMAT)
    assert_refused(installer.run(cli, tarball), words)
    sentinel.assert_unchanged()


@pytest.mark.parametrize("damage", ["cut in half", "cut after the headers", "garbage",
                                    "empty", "corrupt xz block"])
def test_damaged_stream_is_one_line(installer: Installer, cli: Any, tmp_path: Path,
                                    damage: str) -> None:
    whole = lzma.compress(tarballs.tar_bytes([*base(), regular(f"{PACKAGE}/big",
                                                               os.urandom(200_000))]))
    data = {"cut in half": whole[:len(whole) // 2],
            "cut after the headers": whole[:200],
            "garbage": b"this is not a tarball at all\n" * 40,
            "empty": b"",
            "corrupt xz block": whole[:100] + bytes(b ^ 0x55 for b in whole[100:400])
            + whole[400:]}[damage]
    tarball = tmp_path / "damaged.tar.xz"
    tarball.write_bytes(data)
    before = contents(installer.prefix)
    assert_refused(installer.run(cli, tarball), str(tarball))
    assert contents(installer.prefix) == before


def test_member_claiming_more_data_than_it_has(installer: Installer, cli: Any,
                                               tmp_path: Path) -> None:
    raw = tarballs.tar_bytes([*base(), regular(f"{PACKAGE}/short", b"x" * 4096)])
    tarball = tmp_path / "short.tar"
    tarball.write_bytes(raw[:raw.rindex(b"x" * 512) - 2048])  # data cut, no end blocks
    before = contents(installer.prefix)
    assert_refused(installer.run(cli, tarball), "truncated")
    assert contents(installer.prefix) == before


def test_huge_declared_size_is_refused_before_reading(installer: Installer, cli: Any,
                                                      tmp_path: Path) -> None:
    huge, _ = regular(f"{PACKAGE}/huge")
    huge.size = 1 << 50
    tarball = tmp_path / "huge.tar"
    valid = tarballs.tar_bytes(base()).rstrip(b"\0")  # without the end-of-archive blocks
    valid += b"\0" * (-len(valid) % 512)
    tarball.write_bytes(valid + huge.tobuf(tarfile.GNU_FORMAT))
    assert_refused(installer.run(cli, tarball), "declares", str(1 << 50))


@pytest.mark.parametrize("kind", ["a directory", "a link to /dev/zero", "/dev/zero",
                                  "a FIFO", "a dangling link"])
def test_tarball_that_is_not_a_file(installer: Installer, cli: Any, tmp_path: Path,
                                    kind: str) -> None:
    path = tmp_path / "nix.tar.xz"
    if kind == "a directory":
        path.mkdir()
    elif kind == "a link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "a FIFO":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "missing")
    words = {"a directory": "a directory", "a dangling link": "does not exist"}.get(
        kind, "not a regular file")
    assert_refused(installer.run(cli, path, "0" * 64), words)


def test_stale_staging_links_are_removed_not_followed(installer: Installer, cli: Any,
                                                      sentinel: Sentinel,
                                                      tmp_path: Path) -> None:
    """Staging left by a killed install, or planted: a link named like it, and one with a
    link to outside inside it. The next run removes both and follows neither."""
    (installer.store / ".darling-nix-unpack-1").symlink_to(sentinel.root / "dir")
    stale = installer.store / ".darling-nix-unpack-2"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "out").symlink_to(sentinel.root / "dir" / "sub")
    stale.chmod(0o555)
    tarball = tarballs.write(tmp_path / "nix.tar.xz",
                             [*base(), special(f"{PACKAGE}/p", tarfile.FIFOTYPE)])
    assert_refused(installer.run(cli, tarball), "FIFO")
    sentinel.assert_unchanged()
    assert not [p for p in os.listdir(installer.store) if p.startswith(".darling-nix-unpack")]


def test_symlinked_store_is_refused(installer: Installer, cli: Any, sentinel: Sentinel,
                                    tmp_path: Path) -> None:
    store = installer.store
    store.rmdir()
    store.symlink_to(sentinel.root / "dir")
    tarball = tarballs.write(tmp_path / "nix.tar.xz", base())
    assert_refused(installer.run(cli, tarball), "symbolic link")
    sentinel.assert_unchanged()


# The unpacker itself -------------------------------------------------------------------

def unpack(tmp_path: Path, members: list[Member]) -> tuple[Path, nixtarball.Unpacked]:
    staging = tmp_path / "staging"
    staging.mkdir()
    raw = tmp_path / "t.tar"
    raw.write_bytes(tarballs.tar_bytes(members))
    with raw.open("rb") as stream, Directory.open(staging) as directory:
        return staging, nixtarball.unpack(stream, str(raw), directory, set())


def test_accepted_members_keep_their_shape(tmp_path: Path) -> None:
    staging, unpacked = unpack(tmp_path, [
        *base(), link(f"{PACKAGE}/bin/nix", "nix-store"),
        link(f"{PACKAGE}/lib", "/nix/store/ccc-other/lib"),
        link(f"{PACKAGE}/share", "../ccc-other/share"),
        link(f"{PACKAGE}/bin/same", f"{PACKAGE}/bin/nix-store", tarfile.LNKTYPE),
        directory(f"{STORE}/ccc-other", 0o555), regular(f"{STORE}/ccc-other/file", b"f", 0o4777),
        regular(f"{STORE}/ddd-implicit/parent/made/file")])
    assert unpacked.names == ["aaa-pkg", "ccc-other", "ddd-implicit"]
    assert unpacked.reginfo == b"reginfo\n"
    package = staging / "aaa-pkg"
    assert os.readlink(package / "lib") == "/nix/store/ccc-other/lib"
    assert os.readlink(package / "share") == "../ccc-other/share"
    assert (package / "bin" / "same").stat().st_ino == (package / "bin" / "nix-store").stat().st_ino
    assert stat.S_IMODE((package / "bin").stat().st_mode) == 0o555  # set after its content
    # setuid and group/other write dropped
    assert stat.S_IMODE((staging / "ccc-other" / "file").stat().st_mode) == 0o755
    assert (staging / "ddd-implicit" / "parent" / "made" / "file").read_bytes() == b"data\n"
    assert (package / "bin").stat().st_mtime == 1


def test_member_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nixtarball, "MAX_MEMBERS", 10)
    members = [*base(), *(regular(f"{TOP}/extra{i}") for i in range(10))]
    with pytest.raises(nixtarball.TarballRefused, match="one more than the 10 members"):
        unpack(tmp_path, members)


def test_unpacked_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nixtarball, "MAX_TOTAL_BYTES", 100_000)
    members = [*base(), *(regular(f"{PACKAGE}/f{i}", b"x" * 30_000) for i in range(4))]
    with pytest.raises(nixtarball.TarballRefused, match="past 100000 bytes"):
        unpack(tmp_path, members)


def test_installer_error_names_the_tarball(tmp_path: Path) -> None:
    """The unpacker's refusal reaches install-nix's callers as an InstallError."""
    store = tmp_path / "prefix" / "nix" / "store"
    store.mkdir(parents=True)
    tarball = tarballs.write(tmp_path / "t.tar.xz", [*base(), special(f"{PACKAGE}/p",
                                                                       tarfile.CHRTYPE)])
    with pytest.raises(nixinstall.InstallError, match="character device"), \
            tarball.open("rb") as stream, Directory.open(store) as directory:
        nixinstall.unpack(stream, str(tarball), directory, None)
    assert os.listdir(store) == []


@pytest.mark.parametrize("mtime", ["nan", "1e300", "-5"])
def test_odd_pax_times_are_tolerated(tmp_path: Path, mtime: str) -> None:
    info, data = regular(f"{PACKAGE}/timed")
    info.pax_headers = {"mtime": mtime}
    raw = tmp_path / "t.tar"
    raw.write_bytes(tarballs.tar_bytes([*base(), (info, data)], tarfile.PAX_FORMAT))
    staging = tmp_path / "staging"
    staging.mkdir()
    with raw.open("rb") as stream, Directory.open(staging) as directory:
        nixtarball.unpack(stream, str(raw), directory, set())
    assert (staging / "aaa-pkg" / "timed").read_bytes() == data


VALID = tarballs.tar_bytes([*base(), link(f"{PACKAGE}/bin/nix", "nix-store"),
                            regular(f"{PACKAGE}/share/doc", b"x" * 3000)], tarfile.PAX_FORMAT)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)),
                       min_size=1, max_size=8))
def test_any_damage_is_a_refusal_or_a_clean_unpack(tmp_path: Path,
                                                   damage: list[tuple[int, int]]) -> None:
    """Random bytes changed in a valid tarball's headers and data: the unpacker either
    unpacks or refuses with TarballRefused; no other exception, nothing outside staging."""
    work = tmp_path / f"case{os.urandom(6).hex()}"
    staging = work / "staging"
    staging.mkdir(parents=True)
    data = bytearray(VALID)
    for position, value in damage:
        data[position] = value
    raw = work / "t.tar"
    raw.write_bytes(bytes(data))
    with contextlib.suppress(nixtarball.TarballRefused), raw.open("rb") as stream, \
            Directory.open(staging) as directory:
        nixtarball.unpack(stream, str(raw), directory, set())
    assert sorted(p.name for p in work.iterdir()) == ["staging", "t.tar"]
