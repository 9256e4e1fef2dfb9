# pkgs/darling/package.nix and its regress package, called through
# stub-pkgs.nix's callPackage, and what the tests look at: every argument the
# package asks for, its phases' shell text, its CMake flags, its compiler
# wrappers and the store paths its own scripts get. Called by tests/darling:
#
#   nix-instantiate --eval --strict --json --readonly-mode tests/nix/package-eval.nix \
#     --arg lib 'import /path/to/nixpkgs/lib'   (or --arg lib null)
#
# With lib = null only the parts that do not need it are evaluated (`withLib` is
# false); the patch list, env and postFixup need it.
{
  lib ? null,
}:

let
  pkgs = import ./stub-pkgs.nix ({ } // (if lib == null then { } else { inherit lib; }));
  pkgDir = ../../pkgs/darling;
  packageFile = pkgDir + "/package.nix";
  darling = pkgs.callPackage packageFile { };
  inherit (darling) regress;

  names = map (p: p.name);
  # The files of pkgs/darling that phases run, by the store path they get there.
  scripts = builtins.listToAttrs (
    map (file: {
      # an attribute name cannot carry the path's store context
      name = builtins.unsafeDiscardStringContext "${pkgDir + "/${file}"}";
      value = toString (pkgDir + "/${file}");
    }) [ "prepare-source.sh" "copy-sdk.sh" ]
  );
in
{
  withLib = lib != null;
  asked = builtins.attrNames (builtins.functionArgs (import packageFile));
  regressAsked = builtins.attrNames (builtins.functionArgs (import (pkgDir + "/regress/package.nix")));
  inherit scripts;
  inherit (darling)
    name
    outputs
    postPatch
    postInstall
    cmakeFlags
    ;
  # unset is false, as for stdenv
  switches = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = darling.${name} or false;
    }) [ "dontFixCmake" "dontPatchShebangs" "dontStrip" "dontCheckForBrokenSymlinks" ]
  );
  nativeBuildInputs = names darling.nativeBuildInputs;
  buildInputs = names darling.buildInputs;
  wrappedLibs = names darling.wrappedLibs;
  compilers = builtins.mapAttrs (_: script: {
    path = script.outPath;
    inherit (script) text;
  }) (darling.compilers or { });
  regress = {
    inherit (regress) buildPhase;
    compileFlags = regress.compileFlags or [ ];
    linkFlags = regress.linkFlags or [ ];
    sdk = darling.sdk.outPath;
    out = darling.outPath;
  };
}
// (
  if lib == null then
    { }
  else
    {
      src = {
        inherit (darling.src)
          fetcher
          owner
          repo
          rev
          hash
          fetchSubmodules
          postFetch
          ;
      };
      patches = map (p: p.url or (toString p)) darling.patches;
      xnuPatches = map toString darling.xnuPatches;
      inherit (darling) env postFixup;
    }
)
