# The Nix that is installed into the prefix. nixpkgs 26.05 is the last release
# that evaluates x86_64-darwin and Nix 2.35 the last series that builds for it;
# the hash is the one published in the release's install scripts.
rec {
  version = "2.35.1";
  url = "https://releases.nixos.org/nix/nix-${version}/nix-${version}-x86_64-darwin.tar.xz";
  sha256 = "1a932047a6e563acbd86024599bb377cbceca4dc6934a49f62a41ea1d9bdcb1b";
}
