# A pkgs stand-in made from builtins, for evaluating the modules without nixpkgs.
# Packages are attribute sets that look like derivations (type and outPath);
# nothing here can be built, and nothing needs to be: the tests read options.
{
  system ? "x86_64-linux",
}:

let
  # The hash part of the store path comes from `inputs`, so different inputs
  # give different paths (as restart triggers need).
  fakeOf =
    inputs: name:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" inputs)}-${name}";
    };
  fake = name: fakeOf name name;
in
{
  stdenv.hostPlatform.system = system;

  # Named after the file it calls: "package.nix" (darling), "darling-nix.nix", "shims.nix".
  callPackage = path: _args: fake (baseNameOf (toString path));

  fetchurl =
    { url, sha256, ... }:
    fake (baseNameOf url)
    // {
      inherit url;
      outputHash = sha256;
    };

  # In --readonly-mode, toFile computes the store path without writing it.
  writeText = builtins.toFile;

  # Like nixpkgs', the derivation keeps text and checkPhase as attributes; its
  # builder writes text to $target (= $out) and then runs checkPhase, which the
  # tests do themselves.
  writeTextFile =
    {
      name,
      text,
      checkPhase ? "",
    }:
    fakeOf (text + checkPhase) name // { inherit text checkPhase; };

  openssh = fake "openssh";
  bashInteractive = fake "bash-interactive" // {
    shellPath = "/bin/bash";
  };
}
