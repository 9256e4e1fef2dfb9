"""The `darling-nix darling` commands' chain, one module per verb: build.py (Darling from
source), toolchain.py (a cross toolchain from that build, driving compiler.py's clang),
deps.py (Nix's dependencies cross-built from sources.py's pinned tarballs by recipes.py's
recipes) and nix.py (the darwin Nix tarball); cache.py is what they share."""
