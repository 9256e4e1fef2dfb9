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
  imports = [
    ./darling-builder/options.nix
    ./darling-builder/service.nix
  ];
}
