# What the NixOS test framework adds to a node and vm-tests/ set, declared for
# `lib.evalModules` on top of nixos-surface.nix (mirrors
# nixos/modules/virtualisation/qemu-vm.nix: types and defaults).
{ lib, ... }:

let
  inherit (lib) mkOption types;
in
{
  options.virtualisation = {
    diskSize = mkOption {
      type = types.nullOr types.ints.positive;
      default = 1024;
    };
    memorySize = mkOption {
      type = types.ints.positive;
      default = 1024;
    };
    writableStore = mkOption {
      type = types.bool;
      default = true;
    };
  };
}
