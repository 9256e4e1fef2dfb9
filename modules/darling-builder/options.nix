# services.darling-builder's options (the module is darling-builder.nix; what they
# configure is service.nix). Each says which key of the builder config it feeds.
{
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkOption
    mkPackageOption
    types
    ;

  ours = import ../packages.nix pkgs;
  defaultNix = import ./default-nix.nix;

  # A path on this machine, never a path literal (which would be copied to the store).
  localPath = types.pathWith {
    absolute = true;
    inStore = false;
  };
in
{
  options.services.darling-builder = {
    enable = mkEnableOption ''
      an x86_64-darwin Nix builder running Nix inside a Darling prefix, served
      by a dedicated key-only sshd whose every command goes through
      `darling-nix gate`. Also enables {option}`programs.darling`'';

    package = mkPackageOption ours "darling-nix" {
      pkgsText = ''(import "''${darling-nix}/modules/packages.nix" pkgs)'';
      extraDescription = ''
        The Python helpers. Feeds every unit's `darling-nix` command and,
        through `darling-nix render sshd-config`, the sshd's ForceCommand
        (the gate, run by this package's Python).
      '';
    };

    stateDir = mkOption {
      type = localPath;
      default = "/var/lib/darling-builder";
      description = ''
        State of the builder: the Darling prefix ({file}`prefix/`, with the
        prefix's own /nix store) and {file}`ssh/` (host key, client key,
        authorized_keys, known_hosts). Feeds `state_dir` and `prefix`
        (`<stateDir>/prefix`) in the config file. Not the builder user's home
        (that is {file}`/var/empty`: nothing the user can write is read at login).
      '';
    };

    user = mkOption {
      type = types.str;
      default = "darling-builder";
      description = ''
        User that owns the prefix, runs Darling and logs in over ssh (Darling
        runs macOS processes as the invoking user). Feeds `user` in the config
        file, sshd's `AllowUsers` and the alias's `User`. The module creates
        the default user; a user of another name must exist, have a real shell
        and a password field that is not locked (`*`, not `!`: the builder's
        sshd runs without PAM).
      '';
    };

    group = mkOption {
      type = types.str;
      default = "darling-builder";
      description = "Group of {option}`services.darling-builder.user`. Feeds `group` in the config file; created by the module when left at the default.";
    };

    runner = mkOption {
      type = types.enum [
        "darling"
        "namespace"
      ];
      default = "darling";
      internal = true;
      description = ''
        Feeds `runner.kind` in the builder config. `"namespace"` replaces Darling by
        the stand-in runner (a private mount namespace with the prefix's store on
        /nix, running a Linux Nix); it exists for the builder-standin VM test,
        which exercises everything but Darling itself.
      '';
    };

    ephemeral = mkEnableOption ''
      wiping the prefix (`darling-nix prefix wipe`) at every start of
      darling-builder-setup, so no build state survives a restart. The keys
      in {file}`<stateDir>/ssh` are kept. Feeds `ephemeral` in the config file'';

    listenAddresses = mkOption {
      type = types.listOf types.str;
      default = [ "127.0.0.1" ];
      example = [
        "127.0.0.1"
        "192.168.1.10"
      ];
      description = ''
        Addresses the builder's sshd listens on; loopback only by default.
        Feeds `ssh.listen_addresses` (sshd's `ListenAddress`). Listen on another
        address, and set {option}`services.darling-builder.openFirewall`, to
        share the builder with other machines.
      '';
    };

    port = mkOption {
      type = types.port;
      default = 31122;
      description = ''
        Port of the builder's sshd. Feeds `ssh.port` (sshd's `Port`), the
        alias's `Port` and, with openFirewall, the firewall. Must differ from
        {option}`services.openssh.ports`.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open {option}`services.darling-builder.port` in the firewall. Feeds `networking.firewall.allowedTCPPorts`.";
    };

    connectAddress = mkOption {
      type = types.nullOr types.str;
      default = null;
      defaultText = literalExpression ''the first of listenAddresses ("0.0.0.0" -> "127.0.0.1", "::" -> "::1")'';
      example = "builder.example.org";
      description = "Address this host's ssh client connects to. Feeds `ssh.connect_address` and the alias's `HostName`.";
    };

    hostAlias = mkOption {
      type = types.str;
      default = "darling-builder";
      description = ''
        ssh_config `Host` alias of the builder, also its `HostKeyAlias`. Feeds
        `ssh.host_alias`, `nix.buildMachines.*.hostName` and the known_hosts entry.
      '';
    };

    controlDir = mkOption {
      type = localPath;
      default = "/run/darling-builder-ssh";
      description = ''
        Directory of the shared ssh connections (the alias's `ControlPath`),
        created 0700 root: only the nix-daemon's user may enter it. Feeds
        `ssh.control_dir`. Reusing connections halves the cost of a small remote build.
      '';
    };

    authorizedKeys = {
      keys = mkOption {
        type = types.listOf types.singleLineStr;
        default = [ ];
        example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample root@laptop" ];
        description = ''
          Public keys of other machines allowed to build here (their
          nix-daemon's key). Feeds `ssh.authorized_keys`; `prefix init` writes
          them, with `restrict`, to {file}`<stateDir>/ssh/authorized_keys`.
          This host's own client key is always allowed.
        '';
      };

      keyFiles = mkOption {
        type = types.listOf types.path;
        default = [ ];
        example = literalExpression "[ ./keys/laptop.pub ]";
        description = ''
          Files of public keys allowed to build here, read at run time by
          `prefix init`. Feeds `ssh.authorized_keys_files`. A path literal is
          copied to the store.
        '';
      };
    };

    hostKeyFile = mkOption {
      type = types.nullOr localPath;
      default = null;
      defaultText = literalExpression ''"''${stateDir}/ssh/ssh_host_ed25519_key" (generated by darling-builder-keys)'';
      example = "/run/secrets/darling-builder-host-key";
      description = ''
        Private host key of the builder's sshd; `<file>.pub` must exist next to
        it. Feeds `ssh.host_key` (sshd's `HostKey`); known_hosts is written from
        `<file>.pub`. Set it, with {option}`services.darling-builder.publicHostKey`,
        to give the builder a key that other machines can pin before it first starts.
      '';
    };

    publicHostKey = mkOption {
      # Printable ASCII: the module's base64 encoder (lib.strings.charToInt)
      # knows no other bytes. Whether it is a key line is the helpers' check.
      type = types.nullOr (types.strMatching "[ -~]*");
      default = null;
      example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample";
      description = ''
        The builder's public host key, when it is known at evaluation time
        (a provisioned {option}`services.darling-builder.hostKeyFile`, or the
        generated key copied from {file}`<stateDir>/ssh/ssh_host_ed25519_key.pub`).
        Feeds `nix.buildMachines.*.publicHostKey` (base64-encoded), which Nix
        pins on its command line in addition to the known_hosts file that
        `prefix init` writes; the system's build checks it with the helpers.
        Null: only that file pins the key.
      '';
    };

    maxJobs = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Builds run at once in the prefix. Feeds `nix.buildMachines.*.maxJobs` and `max-jobs` in the prefix's nix.conf (`nix.max_jobs`).";
    };

    cores = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = "Cores each build may use, 0 for all. Feeds `cores` in the prefix's nix.conf (`nix.cores`).";
    };

    maxStartups = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = ''
        Unauthenticated connections the builder's sshd takes at once before it
        starts refusing some (refusing all past twice that). 0 sizes it for
        every authorized key starting maxJobs builds at once, plus 10. Feeds
        `ssh.max_startups` (sshd's `MaxStartups`).
      '';
    };

    maxSessions = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = ''
        Sessions one client connection may carry: every build sharing a
        client's connection is one. 0 means maxJobs + 10. Feeds
        `ssh.max_sessions` (sshd's `MaxSessions`).
      '';
    };

    speedFactor = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Relative speed of this builder against other builders. Feeds `nix.buildMachines.*.speedFactor` (`nix.speed_factor`).";
    };

    systems = mkOption {
      type = types.listOf types.str;
      default = [ "x86_64-darwin" ];
      description = ''
        Systems the builder builds for; the first is the prefix Nix's `system`,
        the rest its `extra-platforms`. Feeds `nix.buildMachines.*.systems` and
        `nix.systems` in the config file.
      '';
    };

    supportedFeatures = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "big-parallel" ];
      description = "System features the builder offers. Feeds `nix.buildMachines.*.supportedFeatures` and `system-features` in the prefix's nix.conf (`nix.supported_features`).";
    };

    mandatoryFeatures = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "darling" ];
      description = ''
        Features a derivation must require to be built here; they are offered
        too. Feeds `nix.buildMachines.*.mandatoryFeatures` and `system-features`
        in the prefix's nix.conf (`nix.mandatory_features`).
      '';
    };

    protocol = mkOption {
      type = types.enum [
        "ssh-ng"
        "ssh"
      ];
      default = "ssh-ng";
      description = "Store protocol this host's Nix uses to reach the builder. Feeds `nix.buildMachines.*.protocol` (`nix.protocol`).";
    };

    nix = {
      tarball = mkOption {
        type = types.path;
        default = pkgs.fetchurl {
          inherit (defaultNix) url sha256;
        };
        defaultText = literalExpression ''
          pkgs.fetchurl {
            url = "${defaultNix.url}";
            sha256 = "${defaultNix.sha256}";
          }
        '';
        description = ''
          Nix binary tarball for x86_64-darwin that `darling-nix install-nix`
          unpacks into the prefix, offline. Feeds `nix.tarball`. When you change
          it, set {option}`services.darling-builder.nix.tarballSha256` as well.
        '';
      };

      tarballSha256 = mkOption {
        type = types.str;
        default = defaultNix.sha256;
        description = "sha256 (hexadecimal) of {option}`services.darling-builder.nix.tarball`, checked before anything is unpacked. Feeds `nix.tarball_sha256`.";
      };

      settings = mkOption {
        type = types.attrsOf (
          types.oneOf [
            types.bool
            types.int
            types.str
            (types.listOf types.str)
          ]
        );
        default = { };
        example = {
          max-silent-time = 3600;
          keep-failed = true;
        };
        description = ''
          Extra settings for the prefix's nix.conf (lists are joined with
          spaces); they override the module's (`sandbox = false`, no
          substituters, ...). Feeds `nix.settings`.
        '';
      };
    };

    registerLocally = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Let this host's nix-daemon build x86_64-darwin derivations here: sets
        `nix.distributedBuilds`, a `nix.buildMachines` entry (hostName = the
        alias), `nix.settings.builders-use-substitutes`, the ssh_config alias in
        `programs.ssh.extraConfig` that carries the port and pins the host key
        through {file}`<stateDir>/ssh/known_hosts`, and the control directory.
      '';
    };
  };

}
