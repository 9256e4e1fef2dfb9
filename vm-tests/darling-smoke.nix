# programs.darling on one VM: `darling shell` runs, reports macOS 11.7.4 / Darwin
# 20.6.0, streams a pipe (nixpkgs' old Darling test had to redirect output to a file
# because it was held until the server shut down), and the shims that
# `darling-nix prefix init` installs behave. Not run where it was written (no KVM).
{ pkgs, self }:

let
  t = import ./lib.nix { inherit pkgs self; };
  # A builder config used only to lay out a prefix with `darling-nix prefix init`
  # (accounts, nix.conf, shims); nothing is served from it.
  smokeConfig = pkgs.writeText "darling-smoke-config.json" (
    builtins.toJSON {
      state_dir = "/var/lib/darling-smoke";
      runner = {
        kind = "darling";
        darling_command = "/run/wrappers/bin/darling";
      };
    }
  );
in
{
  name = "darling-smoke";

  nodes.machine = {
    imports = [
      self.nixosModules.darling
      (t.testFiles { "smoke-config.json" = smokeConfig; })
    ];
    programs.darling.enable = true;
    environment.systemPackages = [ t.darlingNix ];
    virtualisation.diskSize = 4096;
    virtualisation.memorySize = 2048;
  };

  testScript = builtins.readFile ./common.py + builtins.readFile ./darling-smoke.py;
}
