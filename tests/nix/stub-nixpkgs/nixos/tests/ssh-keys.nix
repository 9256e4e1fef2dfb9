# Stand-in for nixpkgs' nixos/tests/ssh-keys.nix (a function of pkgs giving
# throwaway test keys), for evaluating vm-tests/ with tests/nix/stub-pkgs.nix.
# Same attribute names; the key material is made up, in the OpenSSH formats.
pkgs: {
  snakeOilPrivateKey = pkgs.writeText "privkey.snakeoil" ''
    -----BEGIN OPENSSH PRIVATE KEY-----
    c3R1Yi1rZXk=
    -----END OPENSSH PRIVATE KEY-----
  '';
  snakeOilPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFN0dWJTdHViU3R1YlN0dWJTdHViU3R1YlN0dWJTdHVi snakeoil";
}
