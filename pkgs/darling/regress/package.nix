# macOS regression programs for this flake's Darling patches, compiled on the
# Linux host for x86_64-apple-darwin20: headers from the `sdk` output of
# ../package.nix, linked by its cctools ld64 against the libSystem of the
# installed prefix template (libexec/darling). The results are Mach-O
# executables: they run only inside a Darling prefix (a VM test runs
# $out/bin/* there and expects exit status 0, 143 for signal_status, and no
# FAIL line).
#
# Reached as `darling.regress` (passthru); standalone:
#   import ./package.nix { inherit (pkgs) clangStdenv; darling = <darling>; }
#
# The flags are the ones that built and ran these programs under Darling on a
# host (DESIGN.md, "real Darling"): the unwrapped clang with -nostdinc and the
# SDK and clang's own headers only (-DPLATFORM_MacOSX, or the headers ask for
# $UNIX2003 symbols), then ld64 with -syslibroot. Letting clang drive the link
# would not do: its Darwin driver adds libclang_rt.osx.a, which nixpkgs' Linux
# clang does not have.
{
  clangStdenv,
  darling,
}:

let
  clang = clangStdenv.cc.cc; # unwrapped: the cc-wrapper adds Linux flags
  # clang's own headers (stddef.h, stdarg.h, ...): the wrapper's resource root
  clangHeaders = "${clangStdenv.cc}/resource-root/include";
  inherit (darling) sdk;
  sdkRoot = "${sdk}/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk";
  compileFlags = [
    "-target x86_64-apple-darwin20"
    "-mmacosx-version-min=11.0"
    "-DPLATFORM_MacOSX"
    "-nostdinc"
    "-isystem ${sdkRoot}/usr/include"
    "-isystem ${clangHeaders}"
    "-I."
    "-Wall -Wno-nullability-completeness -Wno-availability -Wno-undef-prefix"
  ];
  linkFlags = [
    "-arch x86_64"
    "-macosx_version_min 11.0"
    "-syslibroot ${darling}/libexec/darling"
    "-lSystem"
  ];
in
clangStdenv.mkDerivation {
  pname = "darling-nix-regress";
  version = darling.version;

  src = ./.;

  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    for src in *.c; do
      ${clang}/bin/clang ${toString compileFlags} -c -o "''${src%.c}.o" "$src"
      ${sdk}/bin/x86_64-apple-darwin20-ld ${toString linkFlags} -o "''${src%.c}" "''${src%.c}.o"
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

  passthru = { inherit compileFlags linkFlags; };
}
