# The flake's outputs function called with stand-in inputs (nixpkgs' lib and
# stub-pkgs.nix), for test_module_eval.py: which outputs exist, not their builds.
{ lib }:

let
  flake = import ../../flake.nix;
  pkgs = import ./stub-pkgs.nix { };
  nixpkgs = {
    inherit lib;
    legacyPackages.x86_64-linux = pkgs;
  };
  self = flake.outputs { inherit self nixpkgs; } // {
    outPath = toString ../..;
  };
in
{
  inputs = flake.inputs;
  outputs = lib.attrNames (flake.outputs { inherit self nixpkgs; });
  packages = lib.attrNames self.packages.x86_64-linux;
  checks = lib.attrNames self.checks.x86_64-linux;
  overlay = lib.attrNames (self.overlays.default pkgs pkgs);
  nixosModules = lib.mapAttrs (
    _: module: if builtins.isPath module then [ (toString module) ] else map toString module.imports
  ) self.nixosModules;
  templates = lib.mapAttrs (_: template: toString template.path) self.templates;
}
