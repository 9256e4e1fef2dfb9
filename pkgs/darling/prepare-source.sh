#!/bin/sh
# prepare-source.sh: the source edits that every build of Darling for this
# flake needs, beyond the patch series (patches/series.json). Run from the
# Darling root after the patches are applied. Shared by the Nix package
# (package.nix, postPatch) and the host build (`darling-nix darling build`),
# so the two builds prepare the tree the same way.
#
#   1. No setuid/setgid install rules anywhere in the tree: the Nix store cannot
#      hold such files (cmake --install fails under Nix's seccomp filter), and
#      the host build sets the one bit it needs (bin/darling) itself. Every
#      CMakeLists.txt and .cmake file is scanned, not a fixed list, so a
#      component that brings its own rule (basic_cmds' `write`) is covered.
#   2. mig.sh is executable: the build generates build-mig from it and runs it.
set -eu

strip_setid() {
	# SETUID / SETGID as words inside install(... PERMISSIONS ...) lists
	sed -i -E -e 's/(^|[[:space:](])SET(UID|GID)([[:space:])]|$)/\1\3/g' "$1"
}

found=$(grep -rlE --include=CMakeLists.txt --include='*.cmake' '(^|[[:space:](])SET(UID|GID)([[:space:])]|$)' . 2>/dev/null | grep -v '^\./build/' || true)
for f in $found; do
	strip_setid "$f"
	echo "prepare-source: removed setuid/setgid install rules from $f"
done
left=$(grep -rnE --include=CMakeLists.txt --include='*.cmake' '(^|[[:space:](])SET(UID|GID)([[:space:])]|$)' . 2>/dev/null | grep -v '^\./build/' || true)
if [ -n "$left" ]; then
	echo "prepare-source: setuid/setgid install rules left:" >&2
	echo "$left" >&2
	exit 1
fi

chmod +x src/external/bootstrap_cmds/migcom.tproj/mig.sh
