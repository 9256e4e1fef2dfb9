# The macOS-side shims (shims/: dscl, dseditgroup, sysadminctl, diskutil,
# sandbox-exec and their shared library), installed with their MANIFEST to
# $out/share/darling-nix/shims. `darling-nix prefix init` reads that MANIFEST
# (lines `FILE DEST_DIR MODE`) and copies each file into the prefix; the
# darling-nix package points it here through DARLING_NIX_SHIMS.
{
  lib,
  stdenvNoCC,
}:

stdenvNoCC.mkDerivation {
  pname = "darling-nix-shims";
  version = "0.1.0";

  src = lib.fileset.toSource {
    root = ../shims;
    fileset = ../shims;
  };

  dontConfigure = true;
  dontBuild = true;
  # The shims run inside the macOS prefix, where /nix/store paths of this host
  # do not exist: their `#!/bin/sh` must stay as it is, so no fixup at all.
  dontFixup = true;

  installPhase = ''
    runHook preInstall
    dest=$out/share/darling-nix/shims
    install -D -m 0644 MANIFEST "$dest/MANIFEST"
    while read -r file _dir mode; do
      case "$file" in "" | "#"*) continue ;; esac
      # Fails the build when the MANIFEST names a file that is not there.
      install -D -m "$mode" "$file" "$dest/$file"
    done < MANIFEST
    runHook postInstall
  '';

  meta = {
    description = "macOS-side shims (dscl, dseditgroup, sysadminctl, diskutil, sandbox-exec) for Nix inside Darling";
    license = lib.licenses.mit;
    platforms = lib.platforms.all;
  };
}
