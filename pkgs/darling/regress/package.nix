# macOS regression programs for this flake's Darling patches, compiled on the
# Linux host with clang for x86_64-apple-darwin20 against the `sdk` output of
# ../package.nix (its MacOSX.sdk headers and cctools' ld). The results are
# Mach-O executables: they run only inside a Darling prefix (a VM test runs
# $out/bin/* there and expects exit status 0 and no FAIL line).
#
# Reached as `darling.regress` (passthru); standalone:
#   import ./package.nix { inherit (pkgs) clangStdenv; darling = <darling>; }
#
# Unverified: nothing could be built here (no nixpkgs, no network). Whether
# the sdk output holds everything a link needs (libSystem's .tbd/dylibs under
# the SDK) is the first thing the first real build will tell; if it does not,
# build these inside the prefix instead.
{
  clangStdenv,
  darling,
}:

let
  clang = clangStdenv.cc.cc; # unwrapped: the cc-wrapper adds Linux flags
  sdk = darling.sdk;
in
clangStdenv.mkDerivation {
  pname = "darling-nix-regress";
  version = darling.version;

  src = ./.;

  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    sdkroot=${sdk}/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk
    for src in *.c; do
      ${clang}/bin/clang -target x86_64-apple-darwin20 -mmacosx-version-min=11.0 \
        -isysroot "$sdkroot" -I. \
        -Wall -Wno-nullability-completeness -Wno-availability -Wno-undef-prefix \
        --ld-path=${sdk}/bin/ld \
        -o "''${src%.c}" "$src"
    done
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out/bin
    for src in *.c; do
      cp "''${src%.c}" $out/bin/
    done
    runHook postInstall
  '';

  # Mach-O files: leave them to Darwin tools
  dontStrip = true;
  dontPatchELF = true;
  dontPatchShebangs = true;
}
