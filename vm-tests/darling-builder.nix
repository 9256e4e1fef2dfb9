# The whole services.darling-builder with real Darling on one VM, registered with the
# machine's own nix-daemon (registerLocally): a derivation labelled x86_64-darwin is
# offloaded over ssh-ng to the builder's sshd, the gate runs `nix-daemon --stdio`
# through `darling shell`, the build runs in the prefix, and the output comes back.
# The test proves it was built in the prefix (<prefix>/nix/store) by macOS code
# (`/usr/bin/uname -s` says Darwin). Not run where it was written (no KVM, no network).
{ pkgs, self }:

let
  t = import ./lib.nix { inherit pkgs self; };
in
{
  name = "darling-builder";

  nodes.builder = t.builderNode {
    diskSize = 8192;
    memorySize = 4096;
  };

  testScript = builtins.readFile ./common.py + builtins.readFile ./darling-builder.py;
}
