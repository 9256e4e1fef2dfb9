"""`python -I -S session_entry.py DARLING PREFIX ARGV...`: runs ARGV in the Darling prefix
PREFIX as one session (session.py), the host command of DarlingRunner.command(). Run as a
file, like gate_entry.py, so that it starts in a few milliseconds."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from darling_nix.runner import DarlingRunner  # after the path is set

if len(sys.argv) < 4:
    sys.exit("usage: session_entry.py DARLING PREFIX ARGV...")
try:
    DarlingRunner(sys.argv[2], sys.argv[1]).exec(sys.argv[3:])
except OSError as error:
    sys.exit(f"darling-nix: cannot run {error.filename or sys.argv[1]}: {error.strerror}")
