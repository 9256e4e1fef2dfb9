# Nix inside real Darling: services.darling-builder (no clients) installs the module's
# default Nix tarball (the pinned nix-2.35.1-x86_64-darwin.tar.xz, fetched at build
# time, then installed offline in the VM); the test verifies the store, checks
# builtins.currentSystem, builds a trivial and a dependent derivation inside, and runs
# the syscall regression programs of pkgs/darling/regress in the prefix.
# Not run where it was written (no KVM, no network).
{ pkgs, self }:

let
  t = import ./lib.nix { inherit pkgs self; };
  # Evaluated by the Nix inside the prefix (read at /Volumes/SystemRoot/etc/...).
  builds = pkgs.writeText "nix-in-darling-builds.nix" ''
    rec {
      trivial = derivation {
        name = "trivial";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" "echo hello from darwin > $out" ];
      };
      dependent = derivation {
        name = "dependent";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" "read -r line < ''${trivial}; echo \"dependent on: $line\" > $out" ];
      };
    }
  '';
in
{
  name = "darling-nix-in-darling";

  nodes.machine =
    {
      imports = [
        self.nixosModules.darling-builder
        (t.testFiles { "builds.nix" = builds; })
      ];
      services.darling-builder = {
        enable = true;
        registerLocally = false;
      };
      environment.etc."darling-vm-test/regress".source = t.darlingRegress;
      virtualisation.diskSize = 8192;
      virtualisation.memorySize = 4096;
    };

  testScript = builtins.readFile ./common.py + builtins.readFile ./nix-in-darling.py;
}
