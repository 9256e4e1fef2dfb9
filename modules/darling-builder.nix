# services.darling-builder: an x86_64-darwin Nix builder in a Darling prefix.
#
# Thin by design (docs/darwin-builder.md): the options become ONE config file,
# /etc/darling-builder/config.json, in the schema of the Python helpers
# (helpers/src/darling_nix/models.py), checked by them when the system is
# built; three units call `darling-nix`:
#
#   darling-builder-keys   (root)          host key + the local client key, once
#   darling-builder-setup  (builder user)  [prefix wipe] + prefix init + install-nix
#   darling-builder-sshd   (root)          a dedicated sshd whose ForceCommand is the gate
#
# With registerLocally, this host's nix-daemon offloads x86_64-darwin builds to
# it through an ssh_config alias (nix.buildMachines has no port field) whose
# host key is pinned by a known_hosts file that `prefix init` writes from the
# generated key.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    mkPackageOption
    types
    ;

  cfg = config.services.darling-builder;
  opt = options.services.darling-builder;
  ours = import ./packages.nix pkgs;

  # The Nix that is installed into the prefix. nixpkgs 26.05 is the last release
  # that evaluates x86_64-darwin and Nix 2.35 the last series that builds for it;
  # the hash is the one published in the release's install scripts.
  defaultNix = rec {
    version = "2.35.1";
    url = "https://releases.nixos.org/nix/nix-${version}/nix-${version}-x86_64-darwin.tar.xz";
    sha256 = "1a932047a6e563acbd86024599bb377cbceca4dc6934a49f62a41ea1d9bdcb1b";
  };

  configPath = "/etc/darling-builder/config.json";
  cli = "${cfg.package}/bin/darling-nix";
  sshd = "${pkgs.openssh}/bin/sshd"; # absolute: sshd re-executes itself
  runtimeDir = "/run/darling-builder";
  sshdConfig = "${runtimeDir}/sshd_config";

  sshDir = "${cfg.stateDir}/ssh";
  hostKey = if cfg.hostKeyFile != null then cfg.hostKeyFile else "${sshDir}/ssh_host_ed25519_key";
  clientIdentity = "${sshDir}/client_ed25519_key";
  knownHosts = "${sshDir}/known_hosts";

  # Where this host's own ssh client reaches the builder: the first listen
  # address, with a wildcard replaced by the loopback address of its family.
  # No listen address gives "" (the helpers' "unset"), so that the build-time
  # check reports the empty list instead of the evaluation failing on it.
  firstListenAddress = lib.head (cfg.listenAddresses ++ [ "" ]);
  connectAddress =
    if cfg.connectAddress != null then
      cfg.connectAddress
    else
      {
        "0.0.0.0" = "127.0.0.1";
        "::" = "::1";
      }
      .${firstListenAddress} or firstListenAddress;

  # A path on this machine, never a path literal (which would be copied to the store).
  localPath = types.pathWith {
    absolute = true;
    inStore = false;
  };

  # RFC 4648 base64 of an ASCII string: nix.buildMachines.*.publicHostKey wants
  # the host key base64-encoded and nixpkgs' lib has no encoder.
  base64 =
    text:
    let
      alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      bytes = map lib.strings.charToInt (lib.stringToCharacters text);
      count = builtins.length bytes;
      byte = i: if i < count then builtins.elemAt bytes i else 0;
      digit = value: builtins.substring (lib.mod value 64) 1 alphabet;
      quantum =
        index:
        let
          first = index * 3;
          value = byte first * 65536 + byte (first + 1) * 256 + byte (first + 2);
        in
        digit (value / 262144)
        + digit (value / 4096)
        + (if count - first > 1 then digit (value / 64) else "=")
        + (if count - first > 2 then digit value else "=");
    in
    lib.concatStrings (lib.genList quantum ((count + 2) / 3));

  # "TYPE BASE64" of the pinned key, as `darling-nix render machines` encodes it.
  pinnedKeyField = lib.concatStringsSep " " (lib.take 2 (lib.splitString " " cfg.publicHostKey));

  # The builder config, exactly in the schema of models.py (BuilderConfig).
  builderConfig = {
    state_dir = cfg.stateDir;
    prefix = "${cfg.stateDir}/prefix";
    inherit (cfg) user group ephemeral;
    runner = {
      kind = cfg.runner;
      darling_command = "${config.security.wrapperDir}/darling";
    };
    ssh = {
      listen_addresses = cfg.listenAddresses;
      inherit (cfg) port;
      host_key = hostKey;
      authorized_keys = cfg.authorizedKeys.keys;
      # The local client key is always allowed: `darling-nix doctor` and this
      # host's nix-daemon log in with it.
      authorized_keys_files = [ "${clientIdentity}.pub" ] ++ map (file: "${file}") cfg.authorizedKeys.keyFiles;
      client_identity = clientIdentity;
      host_alias = cfg.hostAlias;
      connect_address = connectAddress;
      control_dir = cfg.controlDir;
      max_startups = cfg.maxStartups;
      max_sessions = cfg.maxSessions;
      # gate_command is left out on purpose: `darling-nix render sshd-config`
      # (darling-builder-sshd's ExecStartPre, run from cfg.package) then writes
      # the fast ForceCommand, this package's Python running
      # `-I -S .../darling_nix/gate_entry.py --runner darling --prefix ...
      # --state-dir ... --darling ...`: no wrapper, no site-packages and no
      # config file read on each connection.
    };
    nix = {
      tarball = "${cfg.nix.tarball}";
      tarball_sha256 = cfg.nix.tarballSha256;
      inherit (cfg.nix) settings;
      max_jobs = cfg.maxJobs;
      inherit (cfg) cores systems protocol;
      supported_features = cfg.supportedFeatures;
      mandatory_features = cfg.mandatoryFeatures;
      speed_factor = cfg.speedFactor;
    };
  };

  # The config file /etc links to, checked when the system is built by the
  # helpers themselves: a value they refuse fails `nixos-rebuild` with their
  # own message, and the rules live in models.py only. The module keeps just
  # the assertions that need NixOS knowledge. publicHostKey is not in the
  # config file, so it goes through the helpers' check of a host key file.
  configFile = pkgs.writeTextFile {
    name = "darling-builder-config.json";
    text = builtins.toJSON builderConfig;
    checkPhase = ''
      ${cli} config check "$target"
    ''
    + lib.optionalString (cfg.publicHostKey != null) ''
      printf '%s\n' ${lib.escapeShellArg cfg.publicHostKey} > publicHostKey.pub
      printf '{"ssh": {"host_key": "%s/publicHostKey"}}' "$PWD" > publicHostKey.json
      ${cli} render known-hosts --config publicHostKey.json > /dev/null
    '';
  };

  # Byte for byte what `darling-nix render ssh-config` writes (templates/ssh_config.j2).
  sshAlias = ''
    # The ssh_config alias for the darwin builder, written by darling-nix.
    # /etc/nix/machines has no port field, so the port lives here.
    Host ${cfg.hostAlias}
      HostName ${connectAddress}
      Port ${toString cfg.port}
      User ${cfg.user}
      IdentityFile ${clientIdentity}
      IdentitiesOnly yes
      HostKeyAlias ${cfg.hostAlias}
      UserKnownHostsFile ${knownHosts}
      StrictHostKeyChecking yes
      ControlMaster auto
      ControlPath ${cfg.controlDir}/%C
      ControlPersist 60
      ServerAliveInterval 15
      ServerAliveCountMax 3
  '';

  # Hardening of the two units that start Darling (setup and sshd, whose gate
  # runs `darling shell`). Darling is setuid root: it mounts the prefix's overlay
  # and unshares mount and PID namespaces itself, then drops to the invoking
  # user. So these are LEFT OFF on purpose:
  #   NoNewPrivileges       would make the setuid bit a no-op (set false explicitly);
  #   SystemCallFilter, SystemCallArchitectures, RestrictAddressFamilies,
  #   RestrictNamespaces, PrivateDevices, ProtectKernelTunables, ProtectClock,
  #   MemoryDenyWriteExecute, RestrictRealtime, RestrictSUIDSGID, LockPersonality
  #                         systemd implies NoNewPrivileges for them in a unit
  #                         without CAP_SYS_ADMIN (the setup unit's User=), and
  #                         Darling needs namespaces, personality() and W+X
  #                         mappings for macOS code anyway;
  #   PrivateUsers          a user namespace would strip the wrapper's real root;
  #   CapabilityBoundingSet the bound also caps what the setuid wrapper gets;
  #   ProtectHome           stateDir may live under /home.
  # What is kept only narrows the unit's view of the file system and sets no
  # NoNewPrivileges.
  darlingHardening = {
    NoNewPrivileges = false;
    ProtectSystem = "full"; # /usr, /boot, /efi and /etc read-only; stateDir stays writable
    PrivateTmp = true; # the prefix has its own /private/tmp
    ProtectControlGroups = true;
    UMask = "0022";
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

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = pkgs.stdenv.hostPlatform.system == "x86_64-linux";
          message = "services.darling-builder: Darling runs only on x86_64-linux, but this system is ${pkgs.stdenv.hostPlatform.system}.";
        }
        {
          assertion = cfg.user != "root";
          message = "services.darling-builder.user must not be root: builds run unsandboxed as that user, and its sshd logs it in.";
        }
        {
          assertion = cfg.runner == "darling" -> config.programs.darling.enable;
          message = "services.darling-builder needs programs.darling.enable = true (the setuid darling wrapper); it is enabled by default, do not turn it off.";
        }
        {
          assertion = !(config.services.openssh.enable && lib.elem cfg.port config.services.openssh.ports);
          message = "services.darling-builder.port = ${toString cfg.port} is also in services.openssh.ports; the builder needs a sshd of its own on another port (default 31122).";
        }
        {
          # A changed tarball with the default hash would only fail at run time, in install-nix.
          assertion =
            opt.nix.tarball.highestPrio == (lib.mkOptionDefault null).priority
            || opt.nix.tarballSha256.highestPrio != (lib.mkOptionDefault null).priority;
          message = "services.darling-builder.nix.tarball was changed, so nix.tarballSha256 must be set to that tarball's sha256 too (the default is Nix ${defaultNix.version}'s).";
        }
        {
          assertion = cfg.registerLocally -> config.nix.enable;
          message = "services.darling-builder.registerLocally needs nix.enable (it writes nix.buildMachines); set registerLocally = false on a host without the Nix daemon.";
        }
      ];

      warnings = lib.optional (
        cfg.openFirewall && lib.all (address: lib.elem address [ "127.0.0.1" "::1" ]) cfg.listenAddresses
      ) "services.darling-builder.openFirewall opens port ${toString cfg.port}, but the builder listens on loopback only (listenAddresses).";

      programs.darling.enable = lib.mkDefault (cfg.runner == "darling");

      environment.etc."darling-builder/config.json".source = configFile;
      environment.systemPackages = [ cfg.package ];

      users.users = mkMerge [
        (mkIf (cfg.user == opt.user.default) {
          ${cfg.user} = {
            isSystemUser = true;
            inherit (cfg) group;
            description = "Darling x86_64-darwin Nix builder";
            # Not stateDir, which this user can write: sshd runs ForceCommand with
            # `bash -c`, and nixpkgs' bash reads ~/.bashrc when started by sshd, so a
            # build could plant code to run before the gate on every connection.
            home = "/var/empty";
            # The builder's sshd runs ForceCommand through the login shell, and
            # without PAM it refuses accounts whose hash starts with "!", which
            # is what NixOS writes for an account without a password. "*"
            # allows no password either.
            shell = pkgs.bashInteractive;
            hashedPassword = "*";
          };
        })
        # OpenSSH's privilege separation user, normally made by services.openssh.
        (mkIf (!config.services.openssh.enable) {
          sshd = {
            isSystemUser = true;
            group = "sshd";
            description = "SSH privilege separation user";
          };
        })
      ];
      users.groups = mkMerge [
        (mkIf (cfg.group == opt.group.default) { ${cfg.group} = { }; })
        (mkIf (!config.services.openssh.enable) { sshd = { }; })
      ];

      # The builder user owns its state and ssh/ (sshd's StrictModes wants
      # authorized_keys owned by it or root); the keys in ssh/ are root's, 0600.
      systemd.tmpfiles.rules = [
        "d ${cfg.stateDir} 0750 ${cfg.user} ${cfg.group} - -"
        "d ${sshDir} 0750 ${cfg.user} ${cfg.group} - -"
      ];

      networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ cfg.port ];

      systemd.services.darling-builder-keys = {
        description = "Darling builder: generate the sshd host key and the local client key";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${cli} keys --config ${configPath}";
          # Only ssh-keygen runs here: lock it down. Root, because the client
          # key is the nix-daemon's; DAC_OVERRIDE to write into the builder
          # user's ssh/ directory.
          CapabilityBoundingSet = [ "CAP_DAC_OVERRIDE" ];
          NoNewPrivileges = true;
          PrivateNetwork = true;
          PrivateDevices = true;
          PrivateTmp = true;
          ProtectSystem = "full";
          # No ProtectHome: stateDir may live under /home.
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          SystemCallArchitectures = "native";
          # The .pub files must stay readable for the setup unit (authorized_keys,
          # known_hosts); the private keys are 0600 whatever the umask.
          UMask = "0022";
        };
      };

      systemd.services.darling-builder-setup = {
        description = "Darling builder: create the prefix and install Nix into it";
        wantedBy = [ "multi-user.target" ];
        requires = [ "darling-builder-keys.service" ];
        after = [ "darling-builder-keys.service" ];
        restartTriggers = [ configFile ];
        serviceConfig = darlingHardening // {
          Type = "oneshot";
          RemainAfterExit = true;
          # Darling runs processes as the invoking user: the prefix is the builder's.
          User = cfg.user;
          Group = cfg.group;
          ExecStart =
            lib.optional cfg.ephemeral "${cli} prefix wipe --config ${configPath}"
            ++ [
              "${cli} prefix init --config ${configPath}"
              "${cli} install-nix --config ${configPath}"
            ];
          # The first start unpacks and registers a whole Nix closure through Darling.
          TimeoutStartSec = "30min";
        };
      };

      # Long-running rather than socket-activated. Per-connection (inetd-style,
      # Accept=yes) sshd would fork a fresh sshd for every connection that
      # re-reads its config and host key, pay that start-up on each build that
      # does not hit a shared connection, and give no unit whose state says the
      # builder is ready; ControlMaster reuse makes new connections rare, so
      # activation on demand would save little. The config is rendered and
      # checked (`sshd -t`) before every start.
      systemd.services.darling-builder-sshd = {
        description = "Darling builder: sshd whose ForceCommand is darling-nix gate";
        wantedBy = [ "multi-user.target" ];
        requires = [ "darling-builder-setup.service" ];
        after = [
          "network.target"
          "darling-builder-setup.service"
        ];
        restartTriggers = [ configFile ];
        serviceConfig = darlingHardening // {
          Type = "simple";
          RuntimeDirectory = "darling-builder";
          RuntimeDirectoryMode = "0755";
          ExecStartPre = [
            "${cli} render sshd-config --config ${configPath} --out ${sshdConfig}"
            "${sshd} -t -f ${sshdConfig}"
          ];
          ExecStart = "${sshd} -D -e -f ${sshdConfig}";
          # Stopping ends the sessions too (KillMode=control-group), with the
          # Darling containers their gates started: a restart leaves no
          # container on a prefix that setup may be rewriting. Each gate ends
          # its session's container processes on that SIGTERM, SIGKILL 3 s
          # later (session.py), well inside TimeoutStopSec.
          Restart = "on-failure";
          RestartSec = "5s";
          ProtectKernelModules = true; # Darling needs no kernel module since darlingserver
          ProtectKernelLogs = true;
        };
      };
    }

    (mkIf cfg.registerLocally {
      nix.distributedBuilds = true;
      nix.buildMachines = [
        {
          hostName = cfg.hostAlias;
          inherit (cfg)
            protocol
            systems
            maxJobs
            speedFactor
            supportedFeatures
            mandatoryFeatures
            ;
          sshKey = clientIdentity;
          publicHostKey = if cfg.publicHostKey == null then null else base64 pinnedKeyField;
        }
      ];
      nix.settings.builders-use-substitutes = true;

      # After other extraConfig: lines without a Host header that come before
      # this block stay global instead of landing in the alias.
      programs.ssh.extraConfig = lib.mkAfter sshAlias;

      systemd.tmpfiles.rules = [ "d ${cfg.controlDir} 0700 root root - -" ];
    })
  ]);
}
