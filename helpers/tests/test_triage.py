"""triage: Darling's complaints found, named from the syscall table, counted, reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from darling_nix import loopback, syscalls, triage

MASTER_SAMPLE = """\
;	comment
#include <sys/param.h>
0	AUE_NULL	ALL	{ int nosys(void); }   { indirect syscall }
6	AUE_CLOSE	ALL	{ int sys_close(int fd); }
8	AUE_NULL	ALL	{ int enosys(void); }   { old creat }
#if SOCKETS
27	AUE_RECVMSG	ALL	{ int recvmsg(int s, struct msghdr *msg, int flags) NO_SYSCALL_STUB; }
#else
27	AUE_NULL	ALL	{ int nosys(void); }
#endif
30	AUE_NULL	ALL	{ int nosys(void); }
#if CONFIG_X
30	AUE_X	ALL	{ user_ssize_t later_real(int fd); }
#endif
"""


def test_parse_master_prefers_real_calls_and_keeps_placeholder_comments() -> None:
    assert syscalls.parse_master(MASTER_SAMPLE) == {
        0: "nosys (indirect syscall)", 6: "close", 8: "enosys (old creat)", 27: "recvmsg",
        30: "later_real"}


def test_packaged_table_names_the_calls_nix_needs() -> None:
    assert syscalls.syscall_name(488) == "renameatx_np"
    assert syscalls.syscall_name(462) == "clonefileat"
    assert syscalls.syscall_name(221) == "setattrlist"
    assert syscalls.syscall_name(99999) == "unknown"


def test_packaged_table_is_what_the_generator_makes_of_its_own_rows() -> None:
    table = syscalls.load_table()
    rendered = syscalls.render_tsv(table, "x")
    rows = [line for line in rendered.splitlines() if not line.startswith("#")]
    assert len(rows) == len(table) > 500


@pytest.mark.parametrize(("line", "expected"), [
    ("Unimplemented syscall (488)", ("syscall", "renameatx_np (488)")),
    ("[123] Unimplemented machdep trap (3)", ("machdep trap", "3")),
    ("Unimplemented mach trap (-41)", ("mach trap", "-41")),
    ("STUB: OSLogCreateArchive called", ("stub", "OSLogCreateArchive")),
    ("DARLING STUB CALLED: IOHIDFoo(int)", ("stub", "IOHIDFoo(int)")),
    ("dserver: stub (unsafe): thread_bar", ("stub", "thread_bar")),
    ("error: cloning /nix/store/0123456789abcdfghijklmnpqrsvwxyz-a to 12: Function not "
     "implemented", ("not implemented", "error: cloning /nix/store/...-a to N: Function not "
                                        "implemented")),
    ("building '/nix/store/x.drv'...", None),
])
def test_classify(line: str, expected: tuple[str, str] | None) -> None:
    assert triage.classify(line) == expected


def test_counts_and_first_place() -> None:
    scanner = triage.Triage()
    scanner.feed_file(["ok", "Unimplemented syscall (462)", "STUB: A called",
                       "Unimplemented syscall (462)"], "a.log")
    scanner.feed_text("Unimplemented syscall (462)\n", "second")
    first, second = scanner.findings()
    assert (first.what, first.count, first.first) == ("clonefileat (462)", 3, "a.log:2")
    assert (second.kind, second.count, second.first) == ("stub", 1, "a.log:3")
    table = triage.markdown(scanner.findings())
    assert "| syscall | `clonefileat (462)` | 3 | `a.log:2` |" in table


def test_cli_on_logs_markdown_and_json(cli: Any, tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_text("x\nUnimplemented syscall (488)\n")
    two.write_bytes(b"\xff\xfeUnimplemented syscall (488)\nSTUB: B called\n")
    result = cli("triage", str(one), str(two))
    assert result.returncode == 0, result.stderr
    assert f"| syscall | `renameatx_np (488)` | 2 | `{one}:2` |" in result.stdout
    result = cli("triage", "--format", "json", str(one), str(two))
    data = json.loads(result.stdout)
    assert [(d["what"], d["count"]) for d in data] == [("renameatx_np (488)", 2), ("B", 1)]


def test_cli_missing_log_is_bad_input_and_no_report(cli: Any, tmp_path: Path) -> None:
    good = tmp_path / "good.log"
    good.write_text("Unimplemented syscall (488)\n")
    report = tmp_path / "report.md"
    result = cli("triage", "--output", str(report), str(good), str(tmp_path / "nope.log"))
    assert result.returncode == 2
    assert f"cannot read the log {tmp_path / 'nope.log'}" in result.stderr
    assert not report.exists()


def test_cli_unreadable_log(cli: Any, tmp_path: Path) -> None:
    result = cli("triage", str(tmp_path))  # a directory is not a readable log
    assert result.returncode == 2
    assert "cannot read the log" in result.stderr


def test_cli_run_on_host_tees_and_keeps_the_status(cli: Any) -> None:
    result = cli("triage", "--run", "--", "sh", "-c",
                     "echo out; echo 'Unimplemented syscall (221)' >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert result.stderr.startswith("Unimplemented syscall (221)\n")
    assert "`setattrlist (221)`" in result.stderr


@pytest.mark.integration
def test_cli_run_inside_the_prefix(cli: Any, builder: loopback.LoopbackBuilder) -> None:
    result = cli("triage", "--run", "--config", str(builder.config_file), "--format",
                     "json", "--", "nix-store", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nix-store (Nix)")
    assert json.loads(result.stderr) == []
