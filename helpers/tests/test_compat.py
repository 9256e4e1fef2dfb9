"""The compatibility suite's data, downloads and report, without Darling or a network:
data/compat.json pins every program; a hostile compat.json is refused naming what is
wrong; a download lands in the cache only with its pinned hash (and never through a
planted symlink); a program's failure is explained by the library dyld lacks."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darling_nix import compat
from darling_nix.cli import app
from darling_nix.darling.cache import sha256_file

SUITE = compat.load()


def test_every_program_is_pinned_and_has_a_check() -> None:
    assert len(SUITE.programs) >= 8
    languages = " ".join(p.language for p in SUITE.programs.values())
    for needed in ("C++", "Rust", "Go", "Zig"):
        assert needed in languages
    for program in SUITE.programs.values():
        assert len(program.sha256) == 64 and program.file.endswith((".whl", ".tgz")), program


def _entry(**changes: object) -> str:
    entry = {"package": "ninja", "registry": "pypi", "version": "1.0", "platform": "p",
             "file": "ninja.whl", "sha256": "a" * 64, "program": "bin/ninja",
             "language": "C++", "check": "ninja", **changes}
    return json.dumps({"programs": {"ninja": {k: v for k, v in entry.items() if v is not None}}})


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not JSON"),
    ("[]", "expected 'programs'"),
    (_entry(sha256="abc"), "sha256: expected 64"),
    (_entry(file="../../etc/passwd"), "plain names"),
    (_entry(program="../../bin/sh"), "inside the archive"),
    (_entry(program="/bin/sh"), "inside the archive"),
    (_entry(registry="http"), "expected pypi or npm"),
    (_entry(check="rm -rf"), "unknown check"),
    (_entry(version=None), "missing or empty version"),
    (_entry(platform=None), "--platform is needed"),
])
def test_a_hostile_compat_json_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(compat.CompatInputError, match=message):
        compat.load(text)


def _wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("bin/ninja", "#!/bin/sh\n")
    return path


def _program(sha256: str) -> compat.Program:
    return compat.load(_entry(sha256=sha256)).programs["ninja"]


def test_a_download_with_the_pinned_hash_is_cached_and_unpacked(tmp_path: Path) -> None:
    made = _wheel(tmp_path / "made.whl")
    program = _program(sha256_file(made))
    calls = []

    def download(wanted: compat.Program, directory: Path) -> None:
        calls.append(wanted.name)
        (directory / wanted.file).write_bytes(made.read_bytes())

    cache = tmp_path / "cache"
    archive = compat.fetch(program, cache, download)
    assert archive == cache / "compat" / program.sha256 / "ninja.whl"
    assert compat.fetch(program, cache, download) == archive and calls == ["ninja"]
    executable = compat.unpack(program, archive)
    assert executable.read_text() == "#!/bin/sh\n" and executable.stat().st_mode & 0o111


def test_a_download_with_another_hash_leaves_nothing(tmp_path: Path) -> None:
    program = _program("b" * 64)

    def download(wanted: compat.Program, directory: Path) -> None:
        (directory / wanted.file).write_bytes(b"something else")

    cache = tmp_path / "cache"
    with pytest.raises(compat.FetchError, match=r"has sha256 .*, pinned b{64}"):
        compat.fetch(program, cache, download)
    assert list((cache / "compat" / program.sha256).iterdir()) == []


def test_a_planted_symlink_at_the_cache_path_is_replaced_not_followed(tmp_path: Path) -> None:
    made = _wheel(tmp_path / "made.whl")
    program = _program(sha256_file(made))
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = compat.archive_dir(program, tmp_path / "cache") / program.file
    target.parent.mkdir(parents=True)
    target.symlink_to(victim)
    compat.fetch(program, tmp_path / "cache",
                 lambda wanted, directory: (directory / wanted.file).write_bytes(made.read_bytes()))
    assert victim.read_text() == "keep me" and not target.is_symlink()


def test_a_wheel_with_a_path_outside_it_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.whl"
    with zipfile.ZipFile(evil, "w") as wheel:
        wheel.writestr("../../outside", "x")
    program = _program(sha256_file(evil))
    with pytest.raises(compat.FetchError, match="outside it"):
        compat.unpack(program, evil)
    assert not (tmp_path.parent / "outside").exists()


OUTPUT = ("abort_with_payload: reason: dyld: No shared cache present\n"
          "dyld: Library not loaded: /System/Library/Frameworks/Security.framework/Versions/A/"
          "Security\n  Referenced from: /x/esbuild\n  Reason: image not found\n")


def test_a_missing_framework_names_what_would_provide_it() -> None:
    assert compat.missing_library(OUTPUT, SUITE.providers).startswith(
        "Security.framework: Darling's cli_gui_common")
    assert compat.first_error(OUTPUT).startswith("dyld: Library not loaded")
    assert compat.missing_library("dyld: Library not loaded: /usr/lib/libfoo.dylib",
                                  SUITE.providers) == "/usr/lib/libfoo.dylib: not in core Darling"
    assert compat.missing_library("all good\n", SUITE.providers) == ""


def test_the_table_has_a_row_per_result() -> None:
    results = [compat.Result("a", "1", "C", "did | things", "PASS", "", ""),
               compat.Result("b", "2", "Go", "did", "FAIL", "dyld: x", "X: y", ["z (1) x2"])]
    rows = compat.table(results)
    assert len(rows) == 4 and "did \\| things" in rows[2] and "z (1) x2" in rows[3]


def test_the_cli_names_an_unknown_program_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["darling", "compat", "--only", "nosuch", "--fetch-only"])
    assert result.exit_code == 2 and "unknown program 'nosuch'" in result.output


def test_the_cli_exits_3_when_a_download_fails(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(program: compat.Program, directory: Path) -> None:
        raise compat.FetchError(f"{program.name}: pip download failed: no network")

    monkeypatch.setattr(compat, "registry_download", unreachable)
    monkeypatch.setattr(compat.fetch, "__defaults__", (unreachable,))
    result = CliRunner().invoke(app, ["darling", "compat", "--only", "ninja", "--fetch-only",
                                      "--cache", str(tmp_path)])
    assert result.exit_code == 3 and "no network" in result.output
    assert not any((tmp_path / "compat").rglob("*.whl"))
