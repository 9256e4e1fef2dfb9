# programs.darling: Darling, the macOS translation layer for Linux, with the
# setuid-root wrapper it insists on (it mounts the prefix's overlay and enters
# its namespaces itself, then runs macOS programs as the invoking user).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.programs.darling;
  ours = import ./packages.nix pkgs;
in
{
  options.programs.darling = {
    enable = lib.mkEnableOption ''
      Darling, the macOS translation layer for Linux. This installs the package
      and a setuid-root wrapper at {file}`/run/wrappers/bin/darling` (Darling
      refuses to run without it). Every local user can start Darling
      containers in prefixes they own'';

    package = lib.mkPackageOption ours "darling" {
      pkgsText = ''(import "''${darling-nix}/modules/packages.nix" pkgs)'';
      extraDescription = ''
        Feeds the `security.wrappers.darling` source and
        `environment.systemPackages`. The default is this flake's Darling
        (a patched revision, see {file}`docs/darling-patches.md`) built with
        the system's nixpkgs; nixpkgs itself no longer packages Darling.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = pkgs.stdenv.hostPlatform.system == "x86_64-linux";
        message = "programs.darling: Darling runs only on x86_64-linux, but this system is ${pkgs.stdenv.hostPlatform.system}.";
      }
    ];

    # The store cannot hold setuid files, so the package's bin/darling is not
    # setuid; the wrapper in /run/wrappers/bin comes first in PATH.
    security.wrappers.darling = {
      source = "${cfg.package}/bin/darling";
      owner = "root";
      group = "root";
      setuid = true;
      setgid = false;
      permissions = "u+rx,g+x,o+x";
    };

    environment.systemPackages = [ cfg.package ];
  };
}
