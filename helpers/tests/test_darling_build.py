"""`darling-nix darling build` on a tiny stand-in for Darling's tree (a CMake project with the
same layout where it matters), so the pipeline — patch list, prepare-source.sh, configure,
build, staged install, manifest, cache key — is checked in seconds. The real build is
exercised by the tests under helpers/tests/real_darling."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from sentinel import assert_refused, snapshot

from darling_nix.darling import build as darling_build

REAL_PKGS = Path(__file__).resolve().parents[2] / "pkgs" / "darling"

TOP_CMAKE = """cmake_minimum_required(VERSION 3.13)
project(fake C)
option(DARLING_CORE_SHELL "" OFF)
option(DARLING_CORE_TOOLS "" OFF)
if (NOT DARLING_CORE_SHELL OR NOT DARLING_CORE_TOOLS)
  message(FATAL_ERROR "DARLING_CORE_SHELL or DARLING_CORE_TOOLS not set")
endif()
set(cctools src/external/cctools-port/cctools)
add_custom_target(cctools ALL
  COMMAND ${CMAKE_COMMAND} -E make_directory ${cctools}/ld64/src ${cctools}/ar
  COMMAND ${CMAKE_COMMAND} -E touch ${cctools}/ld64/src/x86_64-apple-darwin20-ld
    ${cctools}/ar/x86_64-apple-darwin20-ar ${cctools}/ar/x86_64-apple-darwin20-ranlib)
install(FILES ${CMAKE_SOURCE_DIR}/darling DESTINATION bin
  PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE WORLD_READ WORLD_EXECUTE SETUID)
install(FILES ${CMAKE_SOURCE_DIR}/src/external/xnu/marker DESTINATION libexec/darling)
install(FILES ${CMAKE_SOURCE_DIR}/src/external/file_cmds/tool DESTINATION libexec/darling/bin)
"""


def fake_tree(root: Path) -> Path:
    src = root / "darling-src" / "src"
    (src / "src" / "external" / "xnu").mkdir(parents=True)
    (src / "src" / "external" / "bootstrap_cmds" / "migcom.tproj").mkdir(parents=True)
    (src / "src" / "external" / "bootstrap_cmds" / "migcom.tproj" / "mig.sh").write_text("#!/bin/sh\n")
    (src / darling_build.SDK).mkdir(parents=True)
    (src / "CMakeLists.txt").write_text(TOP_CMAKE)
    (src / "src" / "CMakeLists.txt").write_text("# core\n")
    (src / "src" / "external" / "xnu" / "marker").write_text("unpatched\n")
    for part in ("include", "src"):  # Darling's libc++, which the install carries
        (src / darling_build.LIBCXX / part).mkdir(parents=True)
        (src / darling_build.LIBCXX / part / "stand-in").write_text(part)
    (src / "darling").write_text("#!/bin/sh\necho fake darling\n")
    (src / "src" / "external" / "file_cmds").mkdir()  # an empty submodule, as git archive leaves it
    tarball = root / "darling-fake-src.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(src, arcname="src")
    fake_tools(root, {"file_cmds/tool": "#!/bin/sh\necho fake tool\n"})
    return tarball


def fake_tools(root: Path, files: dict[str, str]) -> Path:
    """The tools tarball beside the fake source: FILES under src/src/external/."""
    tools = root / "darling-tools" / "src"
    if tools.exists():
        shutil.rmtree(tools)
    for name, text in files.items():
        (tools / "src" / "external" / name).parent.mkdir(parents=True, exist_ok=True)
        (tools / "src" / "external" / name).write_text(text)
    tarball = root / "darling-fake-tools-src.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(tools, arcname="src")
    return tarball


def fake_pkgs(root: Path, xnu_patch: str) -> Path:
    """pkgs/darling with a two-patch series: one for the root, one for darling-xnu."""
    pkgs = root / "pkgs-darling"
    (pkgs / "patches" / "xnu").mkdir(parents=True)
    (pkgs / "patches" / "darling").mkdir()
    for script in ("prepare-source.sh", "copy-sdk.sh"):
        shutil.copy(REAL_PKGS / script, pkgs / script)
    (pkgs / "patches" / "darling" / "0001-core.patch").write_text(
        "--- a/src/CMakeLists.txt\n+++ b/src/CMakeLists.txt\n@@ -1 +1,2 @@\n # core\n+# patched\n")
    (pkgs / "patches" / "xnu" / "0001-marker.patch").write_text(xnu_patch)
    (pkgs / "patches" / "series.json").write_text(json.dumps({"rev": "fake", "patches": [
        {"name": "core", "root": "darling", "file": "darling/0001-core.patch", "kind": "build"},
        {"name": "marker", "root": "xnu", "file": "xnu/0001-marker.patch", "kind": "fix"}]}))
    return pkgs


GOOD_XNU = "--- a/marker\n+++ b/marker\n@@ -1 +1 @@\n-unpatched\n+patched\n"
BAD_XNU = "--- a/marker\n+++ b/marker\n@@ -1 +1 @@\n-something else\n+patched\n"


def assert_build_refused(res: subprocess.CompletedProcess[str], *words: str) -> None:
    """Progress lines (==>) may come first; the refusal itself is one line, exit 2."""
    progress = [line for line in res.stderr.splitlines() if line.startswith(("==> ", "    "))]
    refusal = subprocess.CompletedProcess(res.args, res.returncode, res.stdout,
                                          "\n".join(line for line in res.stderr.splitlines()
                                                    if line not in progress))
    assert_refused(refusal, *words)


@pytest.fixture
def tools() -> None:
    missing = [t for t in darling_build.TOOLS if t != "clang" and shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {' '.join(missing)} (scripts/setup installs them)")


def build_cli(cli, root: Path, pkgs: Path, *args: str):  # type: ignore[no-untyped-def]
    return cli("darling", "build", "--source", str(root / "darling-fake-src.tar.xz"),
               "--cache", str(root / "cache"), *args, env={"DARLING_NIX_PKGS_DARLING": str(pkgs)})


def test_build_installs_caches_and_rebuilds_on_a_patch_change(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    first = build_cli(cli, tmp_path, pkgs, "--json")
    assert first.returncode == 0, first.stderr
    installed = json.loads(first.stdout)
    install = Path(installed["install"])
    assert (install / "libexec" / "darling" / "marker").read_text() == "patched\n"
    # the tools tarball was unpacked over the source and built with it
    assert (install / "libexec" / "darling" / "bin" / "tool").read_text() == "#!/bin/sh\necho fake tool\n"
    # the install stands alone: its own SDK and ld (copy-sdk.sh), the tree is gone
    assert Path(installed["sdk"]).is_dir() and Path(installed["ld"]).is_file()
    assert (install / "sdk" / "libcxx" / "src" / "stand-in").read_text() == "src"
    assert str(install) in installed["sdk"] and str(install) in installed["ld"]
    assert not list((tmp_path / "cache" / "trees").glob("*/"))
    assert installed["patches"] == ["core", "marker"] and installed["variant"] == "patched"
    mode = (install / "bin" / "darling").stat().st_mode
    if os.geteuid() == 0:
        assert mode & stat.S_ISUID  # set by the build itself, not by the (stripped) install rule
    assert "ninja build" in first.stderr

    again = build_cli(cli, tmp_path, pkgs, "--json")
    assert again.returncode == 0 and "up to date" in again.stderr and "ninja" not in again.stderr
    assert json.loads(again.stdout) == installed

    assert (tmp_path / "cache" / "installs" / "patched").resolve() == install

    control = build_cli(cli, tmp_path, pkgs, "--json", "--variant", "control")
    assert control.returncode == 0, control.stderr
    control_install = Path(json.loads(control.stdout)["install"])
    assert control_install != install
    assert (control_install / "libexec" / "darling" / "marker").read_text() == "unpatched\n"

    (pkgs / "patches" / "xnu" / "0001-marker.patch").write_text(GOOD_XNU.replace("+patched", "+changed"))
    changed = build_cli(cli, tmp_path, pkgs, "--json")
    assert changed.returncode == 0, changed.stderr
    assert Path(json.loads(changed.stdout)["install"]) not in (install, control_install)
    current = {link.name: link.resolve() for link in (tmp_path / "cache" / "installs").iterdir()
               if link.is_symlink()}
    assert current == {"patched": Path(json.loads(changed.stdout)["install"]),
                       "control": control_install}


def test_prepare_source_strips_setid_install_rules(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    dry = json.loads(build_cli(cli, tmp_path, pkgs, "--dry-run", "--json").stdout)
    assert build_cli(cli, tmp_path, pkgs).returncode == 0
    log = (tmp_path / "cache" / "trees" / f"{dry['key']}.log").read_text()
    assert "prepare-source: removed setuid/setgid install rules from ./CMakeLists.txt" in log


def test_the_callers_compiler_and_flags_do_not_reach_the_build(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    """CC and CFLAGS are not in the key: CMake took them, so they changed (here: broke) a
    build that the cache then kept under the key of a plain one."""
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    result = cli("darling", "build", "--source", str(tmp_path / "darling-fake-src.tar.xz"),
                 "--cache", str(tmp_path / "cache"),
                 env={"DARLING_NIX_PKGS_DARLING": str(pkgs), "CC": str(tmp_path / "no-cc"),
                      "CFLAGS": "-Werror=no-such-warning"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("manifest", ['{"key": "k"}', "not json", "[]"])
def test_an_install_whose_manifest_is_no_installs_is_named(tmp_path: Path, cli, tools,  # type: ignore[no-untyped-def]
                                                           manifest: str) -> None:
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    install = Path(json.loads(build_cli(cli, tmp_path, pkgs, "--json").stdout)["install"])
    (install / "manifest.json").write_text(manifest)
    result = build_cli(cli, tmp_path, pkgs)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{install / 'manifest.json'}: not the manifest of a Darling install" in result.stderr
    assert (install / "manifest.json").read_text() == manifest  # nothing removed or rebuilt


def test_patch_that_does_not_apply_is_bad_input(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    res = build_cli(cli, tmp_path, fake_pkgs(tmp_path, BAD_XNU))
    assert_build_refused(res, "patch marker", "does not apply")
    assert not list((tmp_path / "cache" / "installs").glob("*"))
    assert not list((tmp_path / "cache" / "trees").glob("*/"))  # no half-patched tree left


def test_dry_run_names_key_and_patches_and_builds_nothing(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    res = build_cli(cli, tmp_path, pkgs, "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["patches"] == ["core", "marker"] and plan["installed"] is False
    assert not (tmp_path / "cache" / "trees").exists()
    control = json.loads(build_cli(cli, tmp_path, pkgs, "--dry-run", "--json",
                                   "--variant", "control").stdout)
    assert control["patches"] == ["core"] and control["key"] != plan["key"]


def test_tarball_whose_top_is_a_link_is_refused_and_its_target_untouched(
        tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    """`tar -cJf src.tar.xz darling` with darling a symlink stores only the link: the build
    must not patch and build in the directory it names."""
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    target = tmp_path / "darling-src" / "src"
    before = snapshot(target)
    (tmp_path / "top").symlink_to(target)
    with tarfile.open(tmp_path / "darling-fake-src.tar.xz", "w:xz") as tar:
        tar.add(tmp_path / "top", arcname="darling")
    assert_build_refused(build_cli(cli, tmp_path, pkgs), "not a Darling source tarball", "link")
    assert snapshot(target) == before


@pytest.mark.parametrize("args, words", [
    (["--source", "/nonexistent/darling.tar.xz"], ["/nonexistent/darling.tar.xz", "no such"]),
    (["--variant", "bogus"], ["unknown variant", "bogus"]),
    (["--source", "/etc"], ["/etc", "neither a source tarball nor a git checkout"]),
])
def test_bad_arguments(tmp_path: Path, cli, tools, args: list[str], words: list[str]) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    res = build_cli(cli, tmp_path, fake_pkgs(tmp_path, GOOD_XNU), *args)
    assert_build_refused(res, *words)


def test_pkgs_without_the_shared_scripts_is_refused(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    (pkgs / "copy-sdk.sh").unlink()
    assert_build_refused(build_cli(cli, tmp_path, pkgs), "copy-sdk.sh does not exist")


def test_upstream_patch_without_a_local_copy_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(darling_build.BuildInputError, match=r"--upstream-patches.*f46eb721-mig-fix\.patch"):
        darling_build.read_series(REAL_PKGS, None, "patched")


def test_series_variants(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    series = json.loads((REAL_PKGS / "patches" / "series.json").read_text())
    for entry in series["patches"]:
        if "localName" in entry:
            (upstream / entry["localName"]).write_text("stand-in\n")
    full = darling_build.read_series(REAL_PKGS, upstream, "patched")
    control = darling_build.read_series(REAL_PKGS, upstream, "control")
    assert [p.name for p in full] == [e["name"] for e in series["patches"]]
    kinds = {e["name"]: e.get("kind") for e in series["patches"]}
    assert [p for p in full if kinds[p.name] != "fix"] == list(control)
    assert {p.name for p in full} - {p.name for p in control} == {
        "renameatx_np", "attrlist-cmn-flags", "clonefile-enotsup", "ulock_wait2",
        "sandbox-errorbuf-null", "mldr-zero-fill", "mldr-commpage-taken", "objc4-release",
        "signal-self", "rlimit-nofile", "boottime-stable", "pselect-sigmask",
        "unfair-lock-shadow", "pthread-cancel", "cpu-number-lsl", "mldr-fork",
        "shellspawn-signal-status", "dserver-message-credentials", "dserver-wait-wakeup",
        "dserver-thread-abort-safely", "dyld-optimize", "dserver-inline-calls", "fork-through-mldr",
        "sigaltstack-thread-exit", "quiet-kprintf"}


def test_git_checkout_with_local_changes_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "darling"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = darling_build._source_id(repo, tmp_path)
    assert head.startswith("git:")
    (repo / "f").write_text("changed")
    with pytest.raises(darling_build.BuildInputError, match="local changes"):
        darling_build._source_id(repo, tmp_path)


def test_cache_that_is_a_file_is_refused(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    (tmp_path / "cache").write_text("not a directory")
    res = build_cli(cli, tmp_path, fake_pkgs(tmp_path, GOOD_XNU), "--dry-run")
    assert_build_refused(res, "cache", "cannot be the cache directory")


BAD_SERIES = [
    ({"patches": [{}]}, "patches[0]", "needs a name and a root"),
    ([1], "patches", "expected a list"),
    ({"patches": [1]}, "patches[0]", "expected a mapping of strings"),
    ({"patches": [{"name": "x", "root": "kernel", "file": "a.patch"}]}, "patches[0]", "root of"),
    ({"patches": [{"name": "x", "root": "darling", "file": "../../../../etc/passwd"}]},
     "patches[0]", "must stay inside patches/"),
    ({"patches": [{"name": "x", "root": "darling", "file": "/etc/passwd"}]}, "patches[0]",
     "must stay inside patches/"),
    ({"patches": [{"name": "x", "root": "darling"}]}, "patches[0]", "exactly one of"),
    ({"patches": [{"name": "x", "root": "darling", "url": "u", "hash": "h",
                   "localName": "../x.patch"}]}, "patches[0]", "plain localName"),
    ({"patches": [{"name": "x", "root": "darling", "file": "a.patch"}]}, "patches[0]",
     "have a kind of fix or build"),
    ({"patches": [{"name": "x", "root": "darling", "file": "a.patch", "kind": "fixes"}]},
     "patches[0]", "have a kind of fix or build"),
    ({"patches": [{"name": "x", "root": "darling", "url": "u", "hash": "h", "localName": "x",
                   "kind": "fix"}]}, "patches[0]", "upstream's (url) none"),
]


@pytest.mark.parametrize(("series", "where", "what"), BAD_SERIES, ids=[b[2] for b in BAD_SERIES])
def test_malformed_series_is_one_line(tmp_path: Path, cli, tools, series: object, where: str,  # type: ignore[no-untyped-def]
                                      what: str) -> None:
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    (pkgs / "patches" / "series.json").write_text(json.dumps(series))
    res = build_cli(cli, tmp_path, pkgs, "--dry-run", "--upstream-patches", str(tmp_path))
    assert_build_refused(res, "series.json", where, what)


def test_tools_tarball_is_part_of_the_key(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    pkgs = fake_pkgs(tmp_path, GOOD_XNU)
    before = json.loads(build_cli(cli, tmp_path, pkgs, "--dry-run", "--json").stdout)
    assert before["tools_source"] == str(tmp_path / "darling-fake-tools-src.tar.xz")
    fake_tools(tmp_path, {"file_cmds/tool": "changed\n"})
    after = json.loads(build_cli(cli, tmp_path, pkgs, "--dry-run", "--json").stdout)
    assert after["key"] != before["key"]


def test_missing_tools_tarball_is_one_line(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    (tmp_path / "darling-fake-tools-src.tar.xz").unlink()
    res = build_cli(cli, tmp_path, fake_pkgs(tmp_path, GOOD_XNU))
    assert_build_refused(res, "darling-fake-tools-src.tar.xz", "no such tools tarball")
    assert not (tmp_path / "cache" / "trees").exists() or \
        not list((tmp_path / "cache" / "trees").glob("*/"))


@pytest.mark.parametrize("files", [
    {"xnu/marker": "replaced\n"},            # would replace a submodule the source has
    {"file_cmds": "a file, not a directory"},
])
def test_tools_tarball_may_not_replace_the_source(tmp_path: Path, cli, tools,  # type: ignore[no-untyped-def]
                                                  files: dict[str, str]) -> None:
    fake_tree(tmp_path)
    fake_tools(tmp_path, files)
    res = build_cli(cli, tmp_path, fake_pkgs(tmp_path, GOOD_XNU))
    assert_build_refused(res, "darling-fake-tools-src.tar.xz", "not a submodule directory")
    assert not list((tmp_path / "cache" / "trees").glob("*/"))
    assert not list((tmp_path / "cache" / "installs").glob("*"))


def test_tools_tarball_named_as_the_source_is_refused(tmp_path: Path, cli, tools) -> None:  # type: ignore[no-untyped-def]
    fake_tree(tmp_path)
    res = cli("darling", "build", "--source", str(tmp_path / "darling-fake-tools-src.tar.xz"),
              "--cache", str(tmp_path / "cache"), "--dry-run",
              env={"DARLING_NIX_PKGS_DARLING": str(fake_pkgs(tmp_path, GOOD_XNU))})
    assert_build_refused(res, "NAME-src.tar.xz", "--tools-source")
