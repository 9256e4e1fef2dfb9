# services.darling-builder on two VMs, with Darling replaced by the stand-in runner
# (runner.kind = "namespace": a private mount namespace with <prefix>/nix on /nix) and
# the stand-in Nix tarball from ./lib.nix. The client offloads a derivation labelled
# x86_64-darwin to the builder over ssh-ng (as NixOS/nix's remote-builds-ssh-ng test
# labels one with another system); the test proves it was built in the builder's
# prefix store, by the builder, without Darling. Not run where it was written (no KVM).
{ pkgs, self }:

let
  t = import ./lib.nix { inherit pkgs self; };
  # nixpkgs' throwaway test keys: the client's key, authorised on the builder.
  keys = import "${pkgs.path}/nixos/tests/ssh-keys.nix" pkgs;
in
{
  name = "darling-builder-standin";

  nodes.builder = t.builderNode {
    settings = {
      listenAddresses = [ "0.0.0.0" ];
      port = t.builderPort;
      openFirewall = true;
      authorizedKeys.keys = [ keys.snakeOilPublicKey ];
      nix.tarball = t.standinNixTarball;
      nix.tarballSha256 = t.standinNixTarballSha256;
      # Everything but Darling: the internal option selects the stand-in runner.
      runner = "namespace";
    };
    # the stand-in tarball (the host Nix's closure) is unpacked into the prefix
    diskSize = 4096;
    memorySize = 2048;
  };

  nodes.client =
    { lib, ... }:
    {
      imports = [ (t.testFiles { "darwin-probe.nix" = t.darwinProbeExpression; }) ];

      environment.etc."darling-vm-test/client_key" = {
        source = keys.snakeOilPrivateKey;
        mode = "0600";
      };
      # doctor, from the client's side
      environment.systemPackages = [ t.darlingNix ];

      # Registration by hand, the way a remote client of the module's builder is set up:
      # /etc/nix/machines has no port field, so an ssh_config alias carries it. The
      # builder's host key is pinned at run time (the script writes the known_hosts file
      # from the key the builder generated); never StrictHostKeyChecking=no.
      nix.distributedBuilds = true;
      nix.buildMachines = [
        {
          hostName = "darling-builder";
          systems = [ "x86_64-darwin" ];
          protocol = "ssh-ng";
          maxJobs = 1;
        }
      ];
      programs.ssh.extraConfig = ''
        Host darling-builder
          HostName builder
          Port ${toString t.builderPort}
          User darling-builder
          IdentityFile /etc/darling-vm-test/client_key
          IdentitiesOnly yes
          HostKeyAlias darling-builder
          UserKnownHostsFile /root/.ssh/darling_known_hosts
          StrictHostKeyChecking yes
          ConnectTimeout 30
      '';
      nix.settings.substituters = lib.mkForce [ ];
      virtualisation.writableStore = true;
    };

  testScript = builtins.readFile ./common.py + builtins.readFile ./builder-standin.py;
}
