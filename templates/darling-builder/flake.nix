{
  description = "A NixOS machine that builds x86_64-darwin derivations in Darling";

  inputs = {
    # Placeholder: replace OWNER with the GitHub owner of darling-nix.
    darling-nix.url = "github:OWNER/darling-nix";
    # The nixpkgs darling-nix is tested with (nixos-26.05).
    nixpkgs.follows = "darling-nix/nixpkgs";
  };

  outputs =
    { nixpkgs, darling-nix, ... }:
    {
      nixosConfigurations.builder = nixpkgs.lib.nixosSystem {
        modules = [
          darling-nix.nixosModules.default
          (
            { ... }:
            {
              nixpkgs.hostPlatform = "x86_64-linux"; # Darling runs nowhere else

              services.darling-builder = {
                enable = true;
                # Builds at once inside Darling; also the machines entry's maxJobs.
                maxJobs = 2;
                # Keep the prefix between restarts (the default); true wipes it.
                ephemeral = false;
                # To share the builder with other machines, listen on their
                # network, open the port and authorize their nix-daemon's key:
                # listenAddresses = [ "0.0.0.0" ];
                # openFirewall = true;
                # authorizedKeys.keys = [ "ssh-ed25519 AAAA... root@laptop" ];
              };

              # Placeholders so that this evaluates: use your
              # hardware-configuration.nix instead.
              boot.loader.grub.device = "nodev";
              fileSystems."/" = {
                device = "/dev/disk/by-label/nixos";
                fsType = "ext4";
              };

              system.stateVersion = "26.05";
            }
          )
        ];
      };
    };
}
