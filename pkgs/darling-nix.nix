# The Python helpers (helpers/): the `darling-nix` CLI the NixOS modules drive,
# including the `darling-nix gate` ForceCommand of the builder's sshd.
#
# checkPhase runs the unit tests; tests marked `integration` need root, a real
# sshd and a real Nix (pytest.ini), so they are deselected here.
{
  lib,
  python3Packages,
  openssh,
  darling-nix-shims,
}:

let
  shimsDir = "${darling-nix-shims}/share/darling-nix/shims";
  helpers = ../helpers;
in
python3Packages.buildPythonApplication {
  pname = "darling-nix";
  version = "0.1.0";
  pyproject = true;

  # Only what the build and the tests read; no byte code or egg-info from a checkout.
  src = lib.fileset.toSource {
    root = helpers;
    fileset = lib.fileset.intersection (lib.fileset.unions [
      (helpers + "/pyproject.toml")
      (helpers + "/src")
      (helpers + "/tests")
    ]) (lib.fileset.fileFilter (file: !(file.hasExt "pyc") && file.name != "PKG-INFO") helpers);
  };

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    typer
    jinja2
    pyyaml
    paramiko
  ];

  nativeCheckInputs = [
    python3Packages.pytestCheckHook
    python3Packages.hypothesis
    openssh # ssh-keygen for the key and renderer tests
  ];

  disabledTestMarks = [ "integration" ];

  preCheck = ''
    export DARLING_NIX_SHIMS=${shimsDir}
  '';

  # `prefix init` installs the shims from here; `keys` runs ssh-keygen.
  makeWrapperArgs = [
    "--set-default"
    "DARLING_NIX_SHIMS"
    shimsDir
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ openssh ])
  ];

  pythonImportsCheck = [ "darling_nix" ];

  passthru.shims = darling-nix-shims;

  meta = {
    description = "Run an x86_64-darwin Nix builder inside Darling on Linux";
    license = lib.licenses.mit;
    mainProgram = "darling-nix";
    platforms = lib.platforms.linux;
  };
}
