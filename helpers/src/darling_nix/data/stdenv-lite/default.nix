# A small darwin stdenv, offline: a mkDerivation whose tools are zig (PyPI's macOS wheel,
# behind cc/c++/ar/ranlib) and GNU make cross-built here (`darling deps --only make`), and
# GNU hello 2.10 built with it from Debian's tarball. Every input enters the store from a
# file on this machine (builtins.path), never from the network at build time.
#   nix-build default.nix --argstr zig DIR --argstr make FILE --argstr helloSource FILE
# darling_nix/stdenv_lite.py gives the three paths; `nonce` makes a new derivation.
{ zig, make, helloSource, system ? "x86_64-darwin", nonce ? "" }:
let
  pins = builtins.fromJSON (builtins.readFile ./pins.json);
  absolute = name: value:
    if builtins.substring 0 1 value == "/" then /. + value
    else throw "stdenv-lite: ${name} must be an absolute path, not \"${value}\"";

  # zig's lib/ carries the libc headers and sources of every target it can build for; a
  # darwin build needs the macOS ones (3,314 of its 16,384 files, 229 of 363 MB).
  otherTargets = [ "glibc" "musl" "mingw" "wasi" ];
  zigPath = path: type:
    let rel = builtins.substring (builtins.stringLength (toString zigRoot)) (-1) (toString path);
        parts = builtins.filter builtins.isString (builtins.split "/" rel);
    in !(builtins.length parts == 4 && builtins.elemAt parts 2 == "libc"
         && builtins.elem (builtins.elemAt parts 3) otherTargets)
       && !(builtins.length parts == 5 && builtins.elemAt parts 3 == "include"
            && builtins.elemAt parts 2 == "libc"
            && builtins.match "any-macos.*" (builtins.elemAt parts 4) == null);
  zigRoot = absolute "zig" zig;

  tools = derivation {
    name = "stdenv-lite-tools";
    inherit system;
    builder = "/bin/sh";
    args = [ ./tools.sh ];
    PATH = "/usr/bin:/bin";
    zig = builtins.path { path = zigRoot; name = "zig-0.13.0-macos"; filter = zigPath; };
    make = builtins.path { path = absolute "make" make; name = "gnu-make-4.3-darwin"; };
  };

  # zig's cache with compiler_rt built (zig-cache.sh): builds start from a copy of it. The
  # nonce makes it too anew: zig's crash-prone cold start then runs in every test build
  zigCache = derivation {
    name = "zig-0.13.0-cache-macos";
    inherit system nonce;
    builder = "/bin/sh";
    args = [ ./zig-cache.sh ];
    PATH = "${tools}/bin:/usr/bin:/bin";
  };

  mkDerivation = { name, src, configureFlags ? [ ], patches ? [ ], doCheck ? true }:
    derivation {
      inherit name system src configureFlags patches nonce zigCache;
      builder = "/bin/bash";
      args = [ ./builder.sh ];
      doCheck = if doCheck then "1" else "";
      PATH = "${tools}/bin:/usr/bin:/bin:/usr/sbin:/sbin";
      # zig has no Mach-O linker command of its own (its driver links); configure scripts
      # only ask $LD whether it is GNU ld
      LD = "cc";
    };
in
# tools and zigCache ride along for the tests; nix-build builds hello
mkDerivation {
  name = "hello-${pins.hello.version}";
  src = builtins.path {
    path = absolute "helloSource" helloSource;
    name = pins.hello.file;
    recursive = false;
    sha256 = pins.hello.sha256;
  };
  configureFlags = [ "--disable-nls" ];
} // { inherit tools zigCache; }
