# This flake's NixOS VM tests, one attribute per test, each a
# `pkgs.testers.runNixOSTest` derivation (nixpkgs 26.05), for `checks.x86_64-linux`:
#
#   checks.x86_64-linux = import ./vm-tests { pkgs = nixpkgs.legacyPackages.x86_64-linux; inherit self; };
#
#   builder-standin  services.darling-builder on a builder and a client VM, Darling
#                    replaced by the namespace stand-in runner; remote ssh-ng build
#   darling-smoke    programs.darling: darling shell, sw_vers/uname, streaming, shims
#   nix-in-darling   the pinned Nix tarball in a prefix: verify, currentSystem, builds,
#                    the syscall regression programs
#   darling-builder  services.darling-builder with real Darling, registered locally
#
# They need KVM, and network at build time (the pinned Nix tarball, Darling's
# sources). None was run where they were written; tests/vm checks that they parse,
# that every testScript passes pyflakes with the driver's names, and this list.
{ pkgs, self }:

let
  run = file: pkgs.testers.runNixOSTest (import file { inherit pkgs self; });
in
{
  builder-standin = run ./builder-standin.nix;
  darling-smoke = run ./darling-smoke.nix;
  nix-in-darling = run ./nix-in-darling.nix;
  darling-builder = run ./darling-builder.nix;
}
