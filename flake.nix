{
  description = "An x86_64-darwin Nix builder for x86_64 Linux: Nix inside Darling, as a NixOS module";

  # nixos-26.05 is the last release that evaluates x86_64-darwin.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # Darling runs on x86_64 Linux only, so that is the only system here.
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      ours = import ./modules/packages.nix pkgs;
    in
    {
      nixosModules = {
        darling = ./modules/darling.nix;
        # Paths, so that importing several of these imports each file once.
        darling-builder = {
          imports = [
            ./modules/darling.nix
            ./modules/darling-builder.nix
          ];
        };
        default = self.nixosModules.darling-builder;
      };

      # Adds darling, darling-nix and darling-nix-shims; the modules' package
      # defaults are the same derivations.
      overlays.default = final: _prev: import ./modules/packages.nix final;

      packages.${system} = {
        inherit (ours) darling darling-nix;
        shims = ours.darling-nix-shims;
        default = ours.darling-nix;
      };

      checks.${system} =
        self.packages.${system} // import ./vm-tests/default.nix { inherit pkgs self; };

      templates = {
        darling-builder = {
          path = ./templates/darling-builder;
          description = "A NixOS configuration that builds x86_64-darwin derivations in Darling";
          welcomeText = ''
            Edit flake.nix: replace OWNER in inputs.darling-nix.url, and the
            placeholder file systems with your hardware configuration.
            Then see README.md.
          '';
        };
        default = self.templates.darling-builder;
      };

      devShells.${system}.default = pkgs.mkShell {
        inputsFrom = [ ours.darling-nix ];
        packages = [
          pkgs.nixfmt
          pkgs.openssh
          pkgs.ruff
          pkgs.python3Packages.mypy
          pkgs.python3Packages.pyflakes
        ];
      };

      formatter.${system} = pkgs.nixfmt;
    };
}
