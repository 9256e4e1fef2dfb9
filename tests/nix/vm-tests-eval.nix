# The flake's VM tests (checks.x86_64-linux from vm-tests/default.nix), evaluated
# with stub-pkgs.nix as far as stubs allow: each test's name and testScript, and
# each node's configuration through this flake's modules (nixos-surface.nix,
# vm-surface.nix). Called by tests/nix/test_vm_tests_eval.py:
#
#   nix-instantiate --eval --strict --json --readonly-mode tests/nix/vm-tests-eval.nix \
#     --arg lib 'import /path/to/nixpkgs/lib'
#
# lib.nix reads a derivation's output (the stand-in tarball's sha256: import from
# derivation), which nothing can build here. The files are imported with a
# `builtins.readFile` that reads a store path that does not exist as 64 zeros;
# every other file is read as it is.
{ lib }:

let
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  readFile =
    path:
    if builtins.pathExists path then
      builtins.readFile path
    else
      lib.strings.replicate 64 "0";
  scope = {
    builtins = builtins // {
      inherit readFile;
    };
    import = scopedImport scope;
  };
  flake = scopedImport scope ../../flake.nix;
  nixpkgs = {
    inherit lib;
    legacyPackages.x86_64-linux = pkgs;
  };
  self = flake.outputs { inherit self nixpkgs; } // {
    outPath = toString ../..;
  };
  vmTests = lib.filterAttrs (_: check: check ? test) self.checks.x86_64-linux;

  node =
    module:
    let
      config =
        (lib.evalModules {
          modules = [
            ./nixos-surface.nix
            ./vm-surface.nix
            { _module.args.pkgs = pkgs; }
            module
          ];
        }).config;
      failed = builtins.filter (a: !a.assertion) config.assertions;
      # nodes without this flake's modules (a client) have neither option
      builder = config.services.darling-builder or { enable = false; };
    in
    {
      failedAssertions = map (a: a.message) failed;
      inherit (config) warnings virtualisation;
      etc = lib.mapAttrs (_: file: toString file.source) config.environment.etc;
      darling = config.programs.darling.enable or false;
      builder = lib.optionalAttrs builder.enable {
        inherit (builder) registerLocally runner;
        tarball = toString builder.nix.tarball;
        config = builtins.fromJSON config.environment.etc."darling-builder/config.json".source.text;
      };
    };
in
lib.mapAttrs (_: check: {
  inherit (check.test) name testScript;
  nodes = lib.mapAttrs (_: node) check.test.nodes;
}) vmTests
// {
  # what the nix-in-darling node gets as the regression programs
  regress = toString self.packages.x86_64-linux.darling.regress;
}
