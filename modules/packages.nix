# This flake's packages, built with a given nixpkgs: the one place that says
# how `darling`, `darling-nix` and `darling-nix-shims` are called.
#
# Used by flake.nix (packages.*, overlays.default) and by the NixOS modules
# (the defaults of programs.darling.package and services.darling-builder.package),
# so a system that imports the modules by path, without the flake, gets the same
# packages built with its own nixpkgs.
pkgs: rec {
  darling = pkgs.callPackage ../pkgs/darling/package.nix { };
  darling-nix-shims = pkgs.callPackage ../pkgs/shims.nix { };
  darling-nix = pkgs.callPackage ../pkgs/darling-nix.nix { inherit darling-nix-shims; };
}
