# A pkgs stand-in made from builtins, for evaluating this flake's modules,
# packages and VM tests without nixpkgs. Nothing here can be built, and
# nothing needs to be: the tests read what the Nix files ask for and produce.
#
#   callPackage       calls the package function for real, with an argument for
#                     every formal it names: the stand-ins below, or a generic
#                     fake package for any other name (the test lists the names
#                     asked for and judges them itself)
#   mkDerivation      returns the package's attributes (phases, flags, inputs,
#                     passthru) on a derivation-like set with one store path
#                     per output, and evaluates `finalAttrs` like nixpkgs
#   fetchers, writers record their arguments
#   testers.runNixOSTest records the test (name, nodes, testScript)
#
# Store paths are made up (see `fakeOf`); in --readonly-mode no file is written.
{
  system ? "x86_64-linux",
  # nixpkgs' lib; packages get it as `lib`. Only forced when a package uses it.
  lib ? throw "tests/nix/stub-pkgs.nix: this evaluation needs lib (pass lib = import <nixpkgs/lib>)",
}:

let
  # The hash part of a store path comes from `inputs`, so different inputs
  # give different paths (as restart triggers need).
  storePathOf =
    inputs: name: "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" inputs)}-${name}";
  storePath = name: storePathOf name name;

  fakeOf = inputs: name: {
    type = "derivation";
    inherit name;
    outPath = storePathOf inputs name;
  };
  fake = name: fakeOf name name;

  mkDerivation =
    argsOrFunction:
    let
      args = if builtins.isFunction argsOrFunction then argsOrFunction finalAttrs else argsOrFunction;
      finalAttrs = args // {
        finalPackage = drv;
      };
      name = args.name or "${args.pname}-${args.version}";
      outputs = args.outputs or [ "out" ];
      outputPath = output: storePath (if output == "out" then name else "${name}-${output}");
      byOutput = builtins.listToAttrs (
        map (output: {
          name = output;
          value = drv // {
            outPath = outputPath output;
            outputName = output;
          };
        }) outputs
      );
      drv =
        args
        // (args.passthru or { })
        // byOutput
        // {
          type = "derivation";
          inherit name outputs;
          outPath = outputPath "out";
          outputName = "out";
        };
    in
    drv;

  stdenvFor = cc: {
    hostPlatform.system = system;
    inherit mkDerivation;
  } // (if cc == null then { } else { inherit cc; });

  clang = fake "clang-wrapper" // {
    cc = fake "clang";
    libc = fake "glibc" // {
      linuxHeaders = fake "linux-headers";
    };
  };

  pkgs = {
    inherit lib;
    # a string, not a path: `"${pkgs.path}/..."` must name the real directory
    path = toString ./stub-nixpkgs;

    stdenv = stdenvFor clang;
    clangStdenv = stdenvFor clang;
    stdenvNoCC = stdenvFor null;

    callPackage =
      path: overrides:
      let
        function = if builtins.isFunction path then path else import path;
        formals = builtins.functionArgs function;
        # every formal without a default; one with a default only if we have it
        wanted = builtins.filter (name: !formals.${name} || pkgs ? ${name}) (builtins.attrNames formals);
        given = builtins.listToAttrs (
          map (name: {
            inherit name;
            value = pkgs.${name} or (fake name);
          }) wanted
        );
      in
      function (given // overrides);

    fetchurl =
      { url, sha256, ... }:
      fake (baseNameOf url)
      // {
        inherit url;
        outputHash = sha256;
      };

    fetchFromGitHub = args: fake "source" // { fetcher = "fetchFromGitHub"; } // args;

    fetchpatch = args: fake args.name // { fetcher = "fetchpatch"; } // args;

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

    writeShellScript =
      name: text:
      fake name
      // {
        inherit text;
      };

    runCommand =
      name: env: script:
      fake name
      // env
      // {
        buildCommand = script;
      };

    closureInfo = { rootPaths }: fake "closure-info" // { inherit rootPaths; };

    testers.runNixOSTest =
      test:
      fake "vm-test-run-${test.name}"
      // {
        inherit test;
      };

    # nixpkgs: "/run/opengl-driver" (+ "-32" on i686)
    addDriverRunpath.driverLink = "/run/opengl-driver";

    python3Packages =
      {
        buildPythonApplication = mkDerivation;
      }
      // builtins.listToAttrs (
        map
          (name: {
            inherit name;
            value = fake name;
          })
          [
            "setuptools"
            "typer"
            "jinja2"
            "pyyaml"
            "paramiko"
            "pytestCheckHook"
            "hypothesis"
          ]
      );

    nix = fake "nix-2.35.1" // {
      version = "2.35.1";
    };
    openssh = fake "openssh";
    bashInteractive = fake "bash-interactive" // {
      shellPath = "/bin/bash";
    };
  };
in
pkgs
