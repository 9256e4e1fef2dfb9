# What services.darling-builder sets up when enabled (its options: options.nix): the
# builder config, its three units, the builder user, and this host's nix.buildMachines.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    mkIf
    mkMerge
    ;

  cfg = config.services.darling-builder;
  opt = options.services.darling-builder;
  defaultNix = import ./default-nix.nix;

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
