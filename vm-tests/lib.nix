# Shared pieces of the NixOS VM tests (vm-tests/default.nix passes pkgs and self).
#
# Nothing in vm-tests/ was built or run where it was written (no KVM, no network,
# Nix 2.8 without nixpkgs): every file parses, the testScripts pass pyflakes
# (tests/vm/test_vm_tests.py); the first `nix flake check` on a KVM host with
# network access is the first real run.
{ pkgs, self }:

let
  inherit (pkgs) lib;
  system = pkgs.stdenv.hostPlatform.system;
  flakePackages = self.packages.${system} or { };
in
rec {
  # This flake's packages (modules/packages.nix says how they are called): the flake's
  # own outputs when it exports them for this system, else built with this pkgs.
  packages = import ../modules/packages.nix pkgs // flakePackages;

  # The helpers CLI, for tests that call `darling-nix` outside the builder module.
  darlingNix = packages.darling-nix;

  # The macOS regression programs for this flake's Darling patches (pkgs/darling/regress).
  darlingRegress = packages.darling.regress;

  # Fixed TCP port of the builder's sshd in the tests (the config's default).
  builderPort = 31122;

  # A stand-in "x86_64-darwin" Nix binary tarball for tests with the namespace runner.
  #
  # Same layout as the official one (`nix-VER-x86_64-darwin/store/...` and `.reginfo`,
  # the `nix-store --load-db` input made by closureInfo, as Nix's own binary-tarball.nix
  # does), so `darling-nix install-nix` unpacks, registers and links the default profile
  # exactly as with the real tarball. The store paths are Linux ones:
  #   - the host's Nix, whole closure (wrapper scripts to the host Nix, as
  #     helpers/src/darling_nix/standin.py makes on Debian, cannot work on NixOS:
  #     the host Nix lives under /nix/store, which the namespace runner covers with
  #     <prefix>/nix);
  #   - bashInteractive, the package NixOS's /bin/sh points into, so /bin/sh resolves
  #     inside the namespace too (the runner's script, `doctor --build` and the test
  #     derivations use it as builder, as darwin derivations use macOS's /bin/sh).
  # The Nix package comes first in the archive: install-nix takes the first store
  # path with bin/nix-store as the Nix to link into the default profile.
  standinNixTarball =
    let
      nix = pkgs.nix;
      roots = [
        nix
        pkgs.bashInteractive
      ];
      closure = pkgs.closureInfo { rootPaths = roots; };
      top = "nix-${nix.version}-x86_64-darwin";
    in
    pkgs.runCommand "${top}-standin.tar" { nativeBuildInputs = [ pkgs.gnutar ]; } ''
      paths=${nix}
      for p in $(cat ${closure}/store-paths); do
        [ "$p" = ${nix} ] || paths="$paths $p"
      done
      mkdir reginfo && cp ${closure}/registration reginfo/.reginfo
      # install-nix streams the archive and moves each store path in whole:
      # no hard links between members (--hard-dereference), symlink targets untouched.
      tar -cf "$out" --owner=0 --group=0 --numeric-owner --mtime=@1 --hard-dereference \
        --transform='flags=rh;s|^nix/store/|${top}/store/|' \
        -C / $(for p in $paths; do printf '%s ' "''${p#/}"; done)
      tar -rf "$out" --owner=0 --group=0 --numeric-owner --mtime=@1 \
        --transform='s|^reginfo/|${top}/|' reginfo/.reginfo
    '';

  # install-nix checks the tarball's sha256; for a tarball built here that hash is only
  # known after the build, so it is read back (import from derivation, which
  # `nix flake check` allows by default). A module option that skips the check for a
  # tarball in the Nix store would make this unnecessary.
  standinNixTarballSha256 = lib.removeSuffix "\n" (
    builtins.readFile (
      pkgs.runCommand "standin-nix-tarball.sha256" { } ''
        sha256sum ${standinNixTarball} | cut -d' ' -f1 > "$out"
      ''
    )
  );

  # A derivation labelled x86_64-darwin, as NixOS/nix's remote-builds tests label one
  # with another system. Its builder is /bin/sh with shell builtins only: on the real
  # builder that is macOS's sh inside Darling; with the stand-in it is the bash that the
  # stand-in tarball put into the prefix's store. The output records where it ran:
  # the kernel's host name, and `/usr/bin/uname -s` where there is one (Darwin in Darling;
  # none with the stand-in on NixOS). Builds get PATH=/path-not-set, hence the full path.
  # TAG makes each build new, so it is really built and not found anywhere.
  darwinProbeExpression = pkgs.writeText "darwin-probe.nix" ''
    { tag }:
    derivation {
      name = "darwin-probe-''${tag}";
      system = "x86_64-darwin";
      builder = "/bin/sh";
      args = [
        "-c"
        '''
          host=unknown
          if [ -r /proc/sys/kernel/hostname ]; then read -r host < /proc/sys/kernel/hostname; fi
          kernel=$( (/usr/bin/uname -s) 2>/dev/null || echo none)
          echo "built-by-darling-nix tag=''${tag} host=$host kernel=$kernel" > $out
        '''
      ];
    }
  '';

  # Files the testScripts read at fixed paths: the scripts stay plain Python
  # (no Nix interpolation), so pyflakes can check them as they are.
  # Copies, not symlinks into the store: inside Darling, /Volumes/SystemRoot/etc/...
  # is reachable but an absolute link into /nix/store would resolve in the prefix's store.
  testFiles = files: {
    environment.etc = lib.mapAttrs' (
      name: source:
      lib.nameValuePair "darling-vm-test/${name}" {
        inherit source;
        mode = "0644";
      }
    ) files;
  };

  # A node running services.darling-builder, registered with its own nix-daemon, with the
  # probe expression in /etc and no substituters (the VMs are offline). SETTINGS are
  # merged into services.darling-builder.
  builderNode =
    {
      settings ? { },
      diskSize,
      memorySize,
    }:
    { lib, ... }:
    {
      imports = [
        self.nixosModules.darling-builder
        (testFiles { "darwin-probe.nix" = darwinProbeExpression; })
      ];
      services.darling-builder = {
        enable = true;
        # the builder's own nix-daemon uses it too (/etc/nix/machines, ssh_config alias)
        registerLocally = true;
      }
      // settings;
      nix.settings.substituters = lib.mkForce [ ];
      virtualisation = {
        writableStore = true;
        inherit diskSize memorySize;
      };
    };
}
