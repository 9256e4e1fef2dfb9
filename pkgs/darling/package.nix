# Darling (macOS translation layer for Linux) built from source, with this
# flake's patches for running Nix inside it (docs/darling-patches.md).
#
# Used as `pkgs.callPackage ./pkgs/darling/package.nix { }`. Outputs:
#   out  the host `darling` launcher and the prefix template in libexec/darling
#        (NOT setuid: the store cannot hold setuid files; the programs.darling
#        NixOS module installs a setuid wrapper around bin/darling)
#   sdk  the build's Developer tree (MacOSX.sdk headers etc.) plus cctools'
#        ld/ar/ranlib, for compiling macOS programs on the host (regress/)
#
# Not built here (no network, no nixpkgs): tests/darling evaluates it with a
# recording stub pkgs and runs its postPatch and postInstall for real against
# files of the pinned tree. docs/darling-patches.md compares it, line by line,
# with the last nixpkgs derivation of this revision and a maintained successor.
{
  lib,
  clangStdenv,
  fetchFromGitHub,
  fetchpatch,
  writeShellScript,
  addDriverRunpath,

  # build tools
  cmake,
  ninja,
  bison,
  flex,
  pkg-config,
  python3,

  # host-side libraries (Darling's documented build dependencies)
  fuse,
  udev,
  elfutils,
  libxml2,
  libbsd,
  openssl,
  xdg-user-dirs,

  # libraries Darling wraps for macOS code (wrap_elf in its CMake files);
  # the build's wrapgen dlopen()s them, and mldr needs them at run time.
  # The X11 libraries under their nixpkgs 26.05 names (libX11 and friends are
  # aliases there, an error with allowAliases = false).
  libx11,
  libxext,
  libxrandr,
  libxcursor,
  libxkbfile,
  libGLU,
  libglvnd,
  cairo,
  freetype,
  fontconfig,
  giflib,
  libjpeg,
  libpng,
  libtiff,
  dbus,
  # FFmpeg 7, not nixpkgs' default `ffmpeg` (FFmpeg 8 since 25.11): with
  # upstream's FFmpeg 7 patch applied, CoreAudio's AudioConverterImpl still
  # calls avcodec_close, which FFmpeg 8 removed.
  ffmpeg_7,
  libpulseaudio,

  # The patch list (patches/series.json, shared with the host build);
  # override to add or drop some:
  #   patches: applied by patchPhase to the Darling root (-p1)
  #   xnuPatches: applied to the darling-xnu submodule (src/external/xnu)
  patches ? null,
  xnuPatches ? null,
}:

let
  series = lib.importJSON ./patches/series.json;
  inherit (series) rev;
  # upstream fixes are fetched (their hash is fetchpatch's); ours are files here
  patchFile =
    p:
    if p ? url then
      fetchpatch {
        name = "darling-${p.name}.patch";
        inherit (p) url hash;
      }
    else
      ./patches + "/${p.file}";
  seriesFor = root: map patchFile (lib.filter (p: p.root == root) series.patches);

  wrappedLibs = [
    libx11
    libxext
    libxrandr
    libxcursor
    libxkbfile
    libGLU
    libglvnd
    cairo
    freetype
    fontconfig
    giflib
    libjpeg
    libpng
    libtiff
    dbus
    ffmpeg_7
    libpulseaudio
    fuse
  ];

  wrappedLibPath = lib.makeLibraryPath wrappedLibs;

  # Darling compiles most of its tree for Darwin with `-target
  # x86_64-apple-darwin20` and its own headers; the Nix cc-wrapper would add
  # Linux glibc/hardening flags to those, so they go to the unwrapped clang.
  # Everything else (the Linux-side launcher, darlingserver, mldr, build
  # tools) goes through the normal wrapper. The warning flags come after
  # Darling's own, so that they win.
  ccWrapper =
    name: wrapped: unwrapped:
    writeShellScript "darling-${name}" ''
      darwin=0
      prev=
      for arg in "$@"; do
        case $prev,$arg in
          -target,*darwin*) darwin=1 ;;
        esac
        case $arg in
          --target=*darwin*|-target=*darwin*) darwin=1 ;;
        esac
        prev=$arg
      done
      if [ "$darwin" = 1 ]; then
        exec ${unwrapped} "$@" ${darwinWarnings}
      fi
      exec ${wrapped} "$@"
    '';

  darwinWarnings = "-Wno-macro-redefined -Wno-unused-command-line-argument";

  cc = clangStdenv.cc;
  clangUnwrapped = cc.cc;
  compilers = {
    cc = ccWrapper "cc" "${cc}/bin/cc" "${clangUnwrapped}/bin/clang";
    cxx = ccWrapper "cxx" "${cc}/bin/c++" "${clangUnwrapped}/bin/clang++";
  };
in
clangStdenv.mkDerivation (finalAttrs: {
  pname = "darling";
  version = "0-unstable-2024-02-03";

  outputs = [
    "out"
    "sdk"
  ];

  src = fetchFromGitHub {
    owner = "darlinghq";
    repo = "darling";
    inherit rev;
    fetchSubmodules = true;
    # Test suites that are large and unused by the build.
    postFetch = ''
      rm -r $out/src/external/openjdk/test
      rm -r $out/src/external/libmalloc/tests
      rm -r $out/src/external/libarchive/libarchive/tar/test
    '';
    # The hash nixpkgs published for this same revision with the same three
    # deletions in postFetch (its darling package, the last one before
    # darling was removed from nixpkgs in May 2025).
    hash = "sha256-z9IMgc5hH2Upn8wHl1OgP42q9HTSkeHnxB3N812A+Kc=";
  };

  patches = if patches != null then patches else seriesFor "darling";

  xnuPatches = if xnuPatches != null then xnuPatches else seriesFor "xnu";

  postPatch = ''
    # this flake's patches to the darling-xnu submodule (.gitmodules:
    # path = src/external/xnu, url = ../darling-xnu.git)
    for p in $xnuPatches; do
      echo "applying darling-xnu patch $p"
      patch -p1 -d src/external/xnu < "$p"
    done

    # shared with the host build: no setuid/setgid install rules anywhere in
    # the tree (the store cannot hold them; programs.darling provides the
    # setuid wrapper), mig.sh executable
    sh ${./prepare-source.sh}

    # Only the scripts the build runs get their shebangs patched (the sandbox
    # has no /bin/bash or /usr/bin/env); the prefix's scripts keep their macOS
    # paths. patchShebangs skips files that are not executable, so this
    # follows prepare-source.sh, which makes mig.sh executable (build-mig is
    # generated from it and keeps its shebang).
    patchShebangs --build \
      src/external/bootstrap_cmds/migcom.tproj/mig.sh \
      src/external/darlingserver/scripts \
      src/external/openssl_certificates/scripts
  '';

  nativeBuildInputs = [
    cmake
    ninja
    bison
    flex
    pkg-config
    python3
  ];

  buildInputs = wrappedLibs ++ [
    udev
    elfutils
    libxml2
    libbsd
    openssl
    clangStdenv.cc.libc.linuxHeaders
  ];

  # Darling's CMake finds its own paths; nixpkgs' fix-ups of CMake files
  # would rewrite them.
  dontFixCmake = true;

  cmakeFlags = [
    "-DTARGET_i386=OFF"
    "-DCOMPILE_PY2_BYTECODE=OFF"
    "-DCMAKE_C_COMPILER=${compilers.cc}"
    "-DCMAKE_CXX_COMPILER=${compilers.cxx}"
    # An empty build type, as upstream builds; the cmake setup hook's
    # default (Release) adds -O3 -DNDEBUG to the Darwin code. Later -D wins.
    "-DCMAKE_BUILD_TYPE="
    # darlingserver runs xdg-user-dir; its CMakeLists passes this cache
    # variable as a compile definition, which wins over the #ifndef default
    # in darlingserver.cpp.
    "-DDARLINGSERVER_XDG_USER_DIR_CMD=${xdg-user-dirs}/bin/xdg-user-dir"
    # CMake 4 (nixpkgs 25.11 on) refuses cmake_minimum_required below 3.5,
    # which some of the vendored projects still ask for.
    "-DCMAKE_POLICY_VERSION_MINIMUM=3.5"
  ];

  env = {
    NIX_CFLAGS_COMPILE = darwinWarnings;
    # wrapgen dlopen()s the wrapped libraries while building
    LD_LIBRARY_PATH = wrappedLibPath;
  };

  # The prefix template (libexec/darling) is macOS code and data: no
  # shebang rewriting and no stripping of Mach-O files by Linux strip. Its
  # absolute links (/Volumes/SystemRoot/dev, ...) point into the prefix, so
  # they dangle on the host and nixpkgs' broken-symlink check must be off;
  # copy-sdk.sh and postFixup check the sdk output instead.
  dontPatchShebangs = true;
  dontStrip = true;
  dontCheckForBrokenSymlinks = true;

  # The sdk output: the Developer tree with links into the source and build
  # trees replaced by copies, plus cctools' ld/ar/ranlib. The cmake setup
  # hook builds in <source>/build, the directory Darling's own links name.
  postInstall = ''
    sh ${./copy-sdk.sh} .. . $sdk
  '';

  postFixup = ''
    mldr=$out/libexec/darling/usr/libexec/darling/mldr
    if [ ! -e "$mldr" ]; then
      echo "mldr not installed at $mldr" >&2
      exit 1
    fi
    patchelf --add-rpath ${wrappedLibPath}:${addDriverRunpath.driverLink}/lib "$mldr"

    # No store path may appear in the prefix template except in mldr (its
    # rpath), in file contents or symlink targets: the template is copied or
    # overlaid into a user's prefix, where store references would dangle
    # after a garbage collection and hide dependencies from Nix.
    leaks=$( (grep -rlF --exclude=mldr "$NIX_STORE/" $out/libexec/darling;
              find $out/libexec/darling -type l -lname "$NIX_STORE/*") || true)
    if [ -n "$leaks" ]; then
      echo "store paths leak into libexec/darling:" >&2
      printf '%s\n' "$leaks" | head -n 50 >&2
      exit 1
    fi

    if find $out $sdk -perm -4000 -o -perm -2000 | grep -q .; then
      echo "setuid/setgid files in the outputs" >&2
      exit 1
    fi
    if find $sdk -xtype l | grep -q .; then
      echo "dangling links in the sdk output" >&2
      exit 1
    fi
  '';

  passthru = {
    inherit wrappedLibs compilers;
    inherit (finalAttrs) xnuPatches;
    # macOS regression programs for the patched calls, built with the sdk
    # output; a VM test runs them inside a Darling prefix
    regress = import ./regress/package.nix {
      inherit clangStdenv;
      darling = finalAttrs.finalPackage;
    };
  };

  meta = {
    description = "Darwin/macOS emulation layer for Linux, patched for running Nix";
    homepage = "https://www.darlinghq.org";
    license = lib.licenses.gpl3Plus;
    platforms = [ "x86_64-linux" ];
    mainProgram = "darling";
  };
})
