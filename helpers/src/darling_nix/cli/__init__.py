"""The `darling-nix` command line (typer). Each verb is a function in the *_cmds.py file
of its group; this file alone registers them, so the whole command tree reads here. The
gate's fast path is not here: see entry.py."""

from __future__ import annotations

import typer

from . import (
    accounts_cmds,
    build_cmds,
    builder_cmds,
    compat_cmds,
    config_cmds,
    darling_cmds,
    demo_cmds,
    doctor_cmds,
    exec_cmds,
    gate_cmds,
    matrix_cmds,
    triage_cmds,
    verify_cmds,
)

app = typer.Typer(
    name="darling-nix",
    help="Run an x86_64-darwin Nix builder inside Darling. Exit codes: 0 ok, 1 a check or "
         "step failed, 2 bad input (config, arguments, hash).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _group(name: str, help: str) -> typer.Typer:
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


config = _group("config", config_cmds.HELP)
config.command("check")(config_cmds.check)
config.command("show")(config_cmds.show)

accounts = _group("accounts", accounts_cmds.HELP)
accounts.callback()(accounts_cmds.select)
accounts.command("list")(accounts_cmds.list_)
accounts.command("add-user")(accounts_cmds.add_user)
accounts.command("remove-user")(accounts_cmds.remove_user)
accounts.command("add-group")(accounts_cmds.add_group)
accounts.command("remove-group")(accounts_cmds.remove_group)
accounts.command("add-member")(accounts_cmds.add_member)
accounts.command("remove-member")(accounts_cmds.remove_member)

prefix = _group("prefix", builder_cmds.PREFIX_HELP)
prefix.command("init")(builder_cmds.prefix_init)
prefix.command("wipe")(builder_cmds.prefix_wipe)

darling = _group("darling", darling_cmds.HELP)
darling.command("build")(darling_cmds.build_command)
darling.command("toolchain")(darling_cmds.toolchain_command)
darling.command("deps")(darling_cmds.deps_command)
darling.command("nix")(darling_cmds.nix_command)
darling.command("stdenv")(darling_cmds.stdenv_command)
darling.command("host-nix")(darling_cmds.host_nix_command)
darling.command("compat")(compat_cmds.compat_command)

app.command("render")(builder_cmds.render_command)
app.command("keys")(builder_cmds.keys_command)
app.command("install-nix")(builder_cmds.install_nix_command)
app.command("doctor")(doctor_cmds.doctor_command)
app.command("demo")(demo_cmds.demo_command)
app.command("verify")(verify_cmds.verify_command)
app.command("build")(build_cmds.build_command)
app.command("exec")(exec_cmds.exec_command)
app.command("matrix")(matrix_cmds.matrix_command)
app.command("triage")(triage_cmds.triage_command)
app.command("gate", context_settings={"allow_extra_args": True,
                                      "ignore_unknown_options": True})(gate_cmds.gate_command)
