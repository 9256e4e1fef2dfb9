"""The builder sshd's ForceCommand runs this file directly, `python -I -S gate_entry.py ...`:
no console-script wrapper (pip's and nixpkgs' import `re`) and no site processing. The
gate needs nothing beyond the standard library, so the directory holding this package is
all the path it needs."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from darling_nix.gate import main  # after the path is set

sys.exit(main(sys.argv[1:]))
