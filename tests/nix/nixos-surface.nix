# The part of NixOS that modules/darling.nix and modules/darling-builder.nix
# set or read, declared for `lib.evalModules` without a nixpkgs checkout.
#
# Each declaration mirrors the type (and default, where the modules read it) of
# the real option; the comment names the nixpkgs file it mirrors. Options the
# modules do not touch are left out, so a typo in the modules is an error here
# as it would be in NixOS. Submodules declare only the fields the modules use,
# which makes an unknown field an error too.
{ lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  # Most declarations are just a type and a default.
  option = type: default: mkOption { inherit type default; };

  # nixos/lib/systemd-unit-options.nix unitOption: a value or a list of values.
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
  ];
  unitOption = types.oneOf [
    unitValue
    (types.listOf unitValue)
  ];
  # nixos/lib/systemd-lib.nix unitNameType
  unitNames = types.listOf (types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)");
in
{
  options = {
    # nixos/modules/misc/assertions.nix
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
    };

    # nixos/modules/security/wrappers/default.nix
    security.wrapperDir = mkOption {
      type = types.path;
      default = "/run/wrappers/bin";
      internal = true;
    };
    security.wrappers = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            source = mkOption { type = types.path; };
            owner = mkOption { type = types.str; };
            group = mkOption { type = types.str; };
            permissions = mkOption {
              type = types.str; # fileModeType
              default = "u+rx,g+x,o+x";
            };
            setuid = option types.bool false;
            setgid = option types.bool false;
          };
        }
      );
      default = { };
    };

    # nixos/modules/config/system-path.nix
    environment.systemPackages = option (types.listOf types.package) [ ];

    # nixos/modules/system/etc/etc.nix
    environment.etc = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              text = option (types.nullOr types.lines) null;
              source = mkOption { type = types.path; };
              mode = option types.str "symlink";
            };
            # etc.nix derives source from text with pkgs.writeText "etc-<name>".
            config.source = lib.mkIf (config.text != null) (
              lib.mkDefault (pkgs.writeText ("etc-" + lib.replaceStrings [ "/" ] [ "-" ] name) config.text)
            );
          }
        )
      );
      default = { };
    };

    # nixos/modules/config/users-groups.nix
    users.users = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            isSystemUser = option types.bool false;
            group = option types.str "";
            description = option (types.passwdEntry types.str) "";
            home = option (types.passwdEntry types.path) "/var/empty";
            shell = option (types.nullOr (types.either types.shellPackage (types.passwdEntry types.path))) null;
            hashedPassword = option (types.nullOr (types.passwdEntry types.str)) null;
          };
        }
      );
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.gid = option (types.nullOr types.int) null;
        }
      );
      default = { };
    };

    # nixos/modules/system/boot/systemd.nix with nixos/lib/systemd-unit-options.nix
    systemd.services = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            description = option types.singleLineStr "";
            wantedBy = option unitNames [ ];
            requires = option unitNames [ ];
            after = option unitNames [ ];
            restartTriggers = option (types.listOf types.unspecified) [ ];
            serviceConfig = option (types.attrsOf unitOption) { };
          };
        }
      );
      default = { };
    };

    # nixos/modules/system/boot/systemd/tmpfiles.nix
    systemd.tmpfiles.rules = option (types.listOf types.str) [ ];

    # nixos/modules/services/networking/firewall.nix
    networking.firewall.allowedTCPPorts = option (types.listOf types.port) [ ];

    # nixos/modules/services/system/nix-daemon.nix
    nix.enable = option types.bool true;

    # nixos/modules/config/nix-remote-build.nix
    nix.distributedBuilds = option types.bool false;
    nix.buildMachines = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            hostName = mkOption { type = types.str; };
            protocol = mkOption {
              type = types.enum [
                null
                "ssh"
                "ssh-ng"
              ];
              default = "ssh";
            };
            system = option (types.nullOr types.str) null;
            systems = option (types.listOf types.str) [ ];
            sshUser = option (types.nullOr types.str) null;
            sshKey = option (types.nullOr types.str) null;
            maxJobs = option types.int 1;
            speedFactor = option types.numbers.positive 1;
            mandatoryFeatures = option (types.listOf types.str) [ ];
            supportedFeatures = option (types.listOf types.str) [ ];
            publicHostKey = option (types.nullOr types.str) null;
          };
        }
      );
      default = [ ];
    };

    # nixos/modules/config/nix.nix (freeform settings of semanticConfType)
    nix.settings = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
            types.path
            (types.listOf (
              types.oneOf [
                types.int
                types.str
              ]
            ))
          ]
        );
      };
      default = { };
    };

    # nixos/modules/programs/ssh.nix
    programs.ssh.extraConfig = option types.lines "";

    # nixos/modules/services/networking/ssh/sshd.nix
    services.openssh.enable = option types.bool false;
    services.openssh.ports = option (types.listOf types.port) [ 22 ];
  };
}
