# Evaluates modules/darling.nix and modules/darling-builder.nix with nixpkgs'
# lib against nixos-surface.nix and stub-pkgs.nix, and returns what the tests
# look at. Called by test_module_eval.py:
#
#   nix-instantiate --eval --strict --json --readonly-mode tests/nix/eval.nix \
#     --arg lib 'import /path/to/nixpkgs/lib' --arg configurations '[ { ... } ]'
#
# The result is a list, one summary per configuration, so that one process
# evaluates many configurations.
{
  lib,
  configurations,
  system ? "x86_64-linux",
}:

let
  pkgs = import ./stub-pkgs.nix { inherit system; };

  evaluate =
    configuration:
    let
      eval = lib.evalModules {
        modules = [
          ./nixos-surface.nix
          ../../modules/darling.nix
          ../../modules/darling-builder.nix
          { _module.args.pkgs = pkgs; }
          configuration
        ];
      };
      config = eval.config;
      failed = builtins.filter (a: !a.assertion) config.assertions;
      ours = lib.filterAttrs (name: _: lib.hasPrefix "darling-builder" name) config.systemd.services;
      etcFile = config.environment.etc."darling-builder/config.json" or null;

      # nixos/modules/config/nix-remote-build.nix (buildMachinesText, Nix >= 2.4):
      # the /etc/nix/machines line NixOS writes for each entry.
      orDash = list: if list == [ ] then "-" else lib.concatStringsSep "," list;
      machineLine =
        m:
        lib.concatStringsSep " " [
          "${lib.optionalString (m.protocol != null) "${m.protocol}://"}${
            lib.optionalString (m.sshUser != null) "${m.sshUser}@"
          }${m.hostName}"
          (if m.system != null then m.system else orDash m.systems)
          (if m.sshKey != null then m.sshKey else "-")
          (toString m.maxJobs)
          (toString m.speedFactor)
          (orDash (m.supportedFeatures ++ m.mandatoryFeatures))
          (orDash m.mandatoryFeatures)
          (if m.publicHostKey != null then m.publicHostKey else "-")
        ]
        + "\n";
    in
    {
      failedAssertions = map (a: a.message) failed;
      inherit (config) warnings;
    }
    # The rest only when the configuration is sound: a failed assertion stops
    # NixOS before any of it is built.
    // lib.optionalAttrs (failed == [ ]) {
      # The file /etc links to: the text it is built from and the build's check.
      configText = if etcFile == null then null else etcFile.source.text;
      configCheck = if etcFile == null then null else etcFile.source.checkPhase;
      configSource = if etcFile == null then null else toString etcFile.source;
      units = lib.mapAttrs (_: unit: {
        inherit (unit)
          description
          wantedBy
          requires
          after
          serviceConfig
          restartTriggers
          ;
      }) ours;
      inherit (config.nix) buildMachines distributedBuilds;
      machinesText = lib.concatMapStrings machineLine config.nix.buildMachines;
      nixSettings = config.nix.settings;
      sshExtraConfig = config.programs.ssh.extraConfig;
      tmpfiles = config.systemd.tmpfiles.rules;
      wrappers = config.security.wrappers;
      firewallPorts = config.networking.firewall.allowedTCPPorts;
      users = lib.mapAttrs (_: user: user // { shell = toString user.shell; }) config.users.users;
      groups = lib.attrNames config.users.groups;
      systemPackages = map toString config.environment.systemPackages;
      darlingPackage = toString config.programs.darling.package;
      builderPackage = toString config.services.darling-builder.package;
    };
in
map evaluate configurations
