"""darling-nix: an x86_64-darwin Nix builder inside Darling."""

__version__ = "0.1.0"
