"""The lite darwin stdenv's parts on the host: its builder script's phases and report, the
cc wrapper's retries of a crashing zig, the expression's inputs (the zig filter, the pins,
refused relative paths) and the report parser. The darwin build itself runs under Darling
in real_darling/test_hello_darwin.py."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from darling_nix import stdenv_lite
from darling_nix.darling import sources

HELLO_C = 'int main(void) { return 0; }\n'
CONFIGURE = """#!/bin/sh
prefix=
for arg; do case $arg in --prefix=*) prefix=${arg#--prefix=} ;; esac; done
echo "configured with: $*" > configured
printf 'all:\\n\\techo built > built\\ncheck:\\n\\t%s\\n' "$(cat check-command)" > Makefile
printf 'install:\\n\\tmkdir -p %s/bin\\n\\tcp built %s/bin/\\n' "$prefix" "$prefix" >> Makefile
"""


def _tarball(path: Path, tops: list[str], check: str = "test -f built") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for top in tops:
            for name, text, mode in (("configure", CONFIGURE, 0o755), ("main.c", HELLO_C, 0o644),
                                     ("check-command", check, 0o644)):
                data = text.encode()
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
    return path


def _run_builder(tmp_path: Path, src: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    top = tmp_path / "build"
    top.mkdir()
    env = {"PATH": os.environ["PATH"], "NIX_BUILD_TOP": str(top), "out": str(tmp_path / "out"),
           "src": str(src), "configureFlags": "--disable-nls --enable-x", "patches": "",
           "doCheck": "1", **extra}
    return subprocess.run(["bash", str(stdenv_lite.DIRECTORY / "builder.sh")], cwd=top, env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("cores", ["2", "0"])  # Nix's 0: all cores (make refuses -j0)
def test_the_builder_runs_every_phase_and_reports_where_it_ran(tmp_path: Path, cores: str) -> None:
    result = _run_builder(tmp_path, _tarball(tmp_path / "pkg-1.0.tar.gz", ["pkg-1.0"]),
                          NIX_BUILD_CORES=cores)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "bin" / "built").read_text() == "built\n"
    configured = (tmp_path / "build" / "pkg-1.0" / "configured").read_text()
    assert configured == f"configured with: --prefix={tmp_path / 'out'} --disable-nls --enable-x\n"
    report = stdenv_lite.read_report(tmp_path / "out")
    assert report.uname == os.uname().sysname
    assert list(report.phases) == list(stdenv_lite.PHASES)
    assert all(seconds >= 0 for seconds in report.phases.values())
    assert report.cc_retries == 0
    assert [line for line in result.stderr.splitlines() if line.startswith("==> ")] == \
        [f"==> {phase}" for phase in stdenv_lite.PHASES]


def test_patches_are_applied_before_configure(tmp_path: Path) -> None:
    patch = tmp_path / "check.patch"
    patch.write_text("--- a/check-command\n+++ b/check-command\n@@ -1 +1 @@\n"
                     "-test -f built\n\\ No newline at end of file\n+test -s built\n")
    result = _run_builder(tmp_path, _tarball(tmp_path / "pkg.tar.gz", ["pkg"]), patches=str(patch))
    assert result.returncode == 0, result.stderr
    assert "\ncheck:\n\ttest -s built\n" in (tmp_path / "build" / "pkg" / "Makefile").read_text()


def test_a_failing_check_fails_the_build_and_installs_nothing(tmp_path: Path) -> None:
    result = _run_builder(tmp_path, _tarball(tmp_path / "pkg.tar.gz", ["pkg"], check="false"))
    assert result.returncode != 0
    assert "==> check" in result.stderr and "==> install" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_tarball_of_two_directories_is_refused_by_name(tmp_path: Path) -> None:
    src = _tarball(tmp_path / "two.tar.gz", ["a", "b"])
    result = _run_builder(tmp_path, src)
    assert result.returncode != 0
    assert f"unpack: {src} does not unpack to one directory" in result.stderr


def test_a_failing_configure_shows_the_end_of_config_log(tmp_path: Path) -> None:
    """Nix's log has only what the build printed: config.log's reason comes with it."""
    src = tmp_path / "pkg.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        data = b"#!/bin/sh\necho 'conftest: cc died' > config.log\nexit 77\n"
        info = tarfile.TarInfo("pkg/configure")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    result = _run_builder(tmp_path, src)
    assert result.returncode == 77
    assert "configure failed; the end of config.log:\nconftest: cc died\n" in result.stderr
    assert "==> build" not in result.stderr


def test_the_build_starts_from_a_writable_copy_of_the_warm_zig_cache(tmp_path: Path) -> None:
    seed = tmp_path / "zig-cache"
    (seed / "o").mkdir(parents=True)
    (seed / "o" / "compiler_rt.a").write_text("archive")
    for path in (seed / "o" / "compiler_rt.a", seed / "o", seed):
        path.chmod(0o555)  # as in the store
    try:
        result = _run_builder(tmp_path, _tarball(tmp_path / "pkg.tar.gz", ["pkg"]),
                              zigCache=str(seed))
    finally:
        for path in (seed, seed / "o"):
            path.chmod(0o755)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "build" / ".zig-cache" / "o" / "compiler_rt.a"
    assert copy.read_text() == "archive"
    assert os.access(copy, os.W_OK) and os.access(copy.parent, os.W_OK)


def _tools(tmp_path: Path, fake_zig: str) -> Path:
    """tools.sh run with a fake zig directory whose `zig` is FAKE_ZIG."""
    zig = tmp_path / "zig"
    zig.mkdir()
    (zig / "zig").write_text(fake_zig)
    (zig / "zig").chmod(0o755)
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\n")
    out = tmp_path / "tools"
    subprocess.run(["sh", str(stdenv_lite.DIRECTORY / "tools.sh")], check=True,
                   env={"PATH": os.environ["PATH"], "out": str(out), "zig": str(zig),
                        "make": str(make)})
    return out / "bin"


CRASHING_ZIG = """#!/bin/sh
# crashes (SIGSEGV) the first $CRASHES times, then prints its arguments
count=$(cat "$COUNTER" 2>/dev/null || echo 0)
echo $((count + 1)) > "$COUNTER"
if [ "$count" -lt "$CRASHES" ]; then kill -SEGV $$; fi
echo "zig $*"
exit ${STATUS:-0}
"""


@pytest.mark.parametrize(("crashes", "status", "runs", "retries"), [
    (0, 0, 1, 0),   # no crash: one run
    (2, 0, 3, 2),   # two crashes, then the compile: retried, and counted
    (9, 0, 5, 5),   # crashes every time: given up after 5 runs, with the crash's status
    (0, 1, 1, 0),   # a compile error is not a crash: not retried
])
def test_cc_runs_a_crashing_zig_again_and_counts_it(tmp_path: Path, crashes: int, status: int,
                                                    runs: int, retries: int) -> None:
    bin_dir = _tools(tmp_path, CRASHING_ZIG)
    counter, log = tmp_path / "counter", tmp_path / "retries"
    result = subprocess.run([str(bin_dir / "cc"), "-c", "x.c"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "COUNTER": str(counter),
                                 "CRASHES": str(crashes), "STATUS": str(status),
                                 "CC_RETRIES_LOG": str(log), "NIX_BUILD_TOP": str(tmp_path)})
    assert int(counter.read_text()) == runs
    assert (len(log.read_text().splitlines()) if log.exists() else 0) == retries
    if crashes >= 5:
        assert result.returncode == 139
    else:
        assert result.returncode == status
        assert result.stdout == "zig cc -c x.c\n"


def test_the_other_tools_are_zig_s_and_make_is_linked(tmp_path: Path) -> None:
    bin_dir = _tools(tmp_path, '#!/bin/sh\necho "zig $*"\n')
    for tool in ("ar", "ranlib"):
        ran = subprocess.run([str(bin_dir / tool), "x"], capture_output=True, text=True, check=True)
        assert ran.stdout == f"zig {tool} x\n"
    assert os.readlink(bin_dir / "make") == str(tmp_path / "make")


def test_read_report_names_a_line_it_does_not_know(tmp_path: Path) -> None:
    support = tmp_path / "nix-support"
    support.mkdir()
    (support / "build-report").write_text("uname Darwin\nphase configure 5000000000\n")
    assert stdenv_lite.read_report(tmp_path) == stdenv_lite.Report("Darwin", {"configure": 5.0}, 0)
    (support / "build-report").write_text("uname Darwin\nphase rm-rf 1\n")
    with pytest.raises(ValueError, match="unexpected line 'phase rm-rf 1'"):
        stdenv_lite.read_report(tmp_path)


def test_hello_s_pin_names_debian_s_tarball() -> None:
    source = stdenv_lite.hello_source()
    pins = json.loads((stdenv_lite.DIRECTORY / "pins.json").read_text())
    assert source == sources.Source("hello", "hello", "hello_2.10.orig.tar.gz", pins["hello"]["sha256"])


needs_nix = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                               reason="needs nix-instantiate (Debian's nix-bin)")


def _instantiate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", *args],
                          capture_output=True, text=True, check=False)


@needs_nix
def test_the_zig_filter_keeps_the_macos_files_only(tmp_path: Path) -> None:
    """The expression's filter on a tree shaped like the wheel's ziglang/: what its zig input
    puts into the store."""
    zig = tmp_path / "ziglang"
    kept = ["zig", "lib/std/std.zig", "lib/libc/darwin/libSystem.tbd",
            "lib/libc/include/any-macos-any/stdio.h", "lib/libc/include/any-macos.13-any/x.h",
            "lib/libcxx/include/vector", "lib/include/stddef.h"]
    dropped = ["lib/libc/glibc/abilists", "lib/libc/musl/src/x.c", "lib/libc/mingw/x.def",
               "lib/libc/wasi/x.c", "lib/libc/include/x86_64-linux-gnu/bits.h",
               "lib/libc/include/any-windows-any/windows.h"]
    for name in kept + dropped:
        (zig / name).parent.mkdir(parents=True, exist_ok=True)
        (zig / name).write_text(name)
    result = subprocess.run(["nix-instantiate", "--eval", "--read-write-mode", "-E",
                             f'(import {stdenv_lite.EXPRESSION} {{ zig = "{zig}"; make = "/x"; '
                             'helloSource = "/x"; }).tools.zig'],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    copied = Path(json.loads(result.stdout))
    assert sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file()) == sorted(kept)


@needs_nix
@pytest.mark.parametrize(("name", "attribute"), [
    ("zig", "tools.zig"), ("make", "tools.make"), ("helloSource", "src")])
def test_a_relative_input_path_is_refused_by_name(tmp_path: Path, name: str, attribute: str) -> None:
    given = {"zig": str(tmp_path), "make": str(tmp_path), "helloSource": str(tmp_path), name: "x/y"}
    arguments = " ".join(f'{key} = "{value}";' for key, value in given.items())
    result = subprocess.run(["nix-instantiate", "--eval", "-E",
                             f"(import {stdenv_lite.EXPRESSION} {{ {arguments} }}).{attribute}"],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert f'stdenv-lite: {name} must be an absolute path, not "x/y"' in result.stderr


# A zig whose `cc SRC -o OUT` writes a program that exits 0 and a file into its cache; its
# first $FAILS runs fail as a link does (exit 1, not a crash)
LINKING_ZIG = """#!/bin/sh
count=$(cat "$COUNTER" 2>/dev/null || echo 0)
echo $((count + 1)) > "$COUNTER"
mkdir -p "$ZIG_GLOBAL_CACHE_DIR/o"
echo "run $count" >> "$ZIG_GLOBAL_CACHE_DIR/o/runs"
[ "$count" -ge "$FAILS" ] || { echo "error: archive corrupt" >&2; exit 1; }
while [ $# -gt 1 ]; do [ "$1" = -o ] && printf '#!/bin/sh\\nexit 0\\n' > "$2" && chmod +x "$2"; shift; done
"""


def _warm_cache(tmp_path: Path, fails: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = _tools(tmp_path, LINKING_ZIG)
    top, out = tmp_path / "top", tmp_path / "zig-cache"
    top.mkdir()
    result = subprocess.run(["sh", str(stdenv_lite.DIRECTORY / "zig-cache.sh")],
                            capture_output=True, text=True, check=False,
                            env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "out": str(out),
                                 "NIX_BUILD_TOP": str(top), "COUNTER": str(tmp_path / "counter"),
                                 "FAILS": str(fails)})
    return result, out


def test_the_zig_cache_is_warmed_for_both_of_configure_s_modes(tmp_path: Path) -> None:
    result, out = _warm_cache(tmp_path, fails=0)
    assert result.returncode == 0, result.stderr
    assert (out / "o" / "runs").read_text() == "run 0\nrun 1\n"  # plain, then -g -O2


def test_a_cache_left_bad_is_thrown_away_and_built_again(tmp_path: Path) -> None:
    result, out = _warm_cache(tmp_path, fails=1)
    assert result.returncode == 0, result.stderr
    assert "zig-cache: the link failed; starting zig's cache again (1)" in result.stderr
    assert (out / "o" / "runs").read_text() == "run 1\nrun 2\n"  # the failed run's file is gone


def test_a_zig_that_never_links_fails_the_cache_by_name(tmp_path: Path) -> None:
    result, _ = _warm_cache(tmp_path, fails=99)
    assert result.returncode == 1
    assert result.stderr.count("starting zig's cache again") == 2
    assert "zig-cache: zig could not link and run a C program in 3 tries" in result.stderr
