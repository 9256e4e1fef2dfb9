#!/bin/sh
# check-patches.sh: check this flake's Darling patches against upstream sources.
#
# Usage:
#   check-patches.sh [--apply-only] [--keep] [XNU_SRC [DARLING_SRC]]
#
#   XNU_SRC      unpacked darlinghq/darling-xnu tree at
#                814a90cae0b725c65b89dcba2b680d36aceeeec4 (default: $DARLING_XNU_SRC)
#   DARLING_SRC  unpacked darlinghq/darling tree at
#                25afbc76428c39c3909e9efcf5caef1140425211 (default: $DARLING_SRC).
#                For the compile check its submodules must be checked out
#                (at least src/external/{xnu,libc,libpthread,libplatform,
#                libmalloc,darlingserver}); for the apply check only
#                src/sandbox/sandbox.c is needed.
#
# Steps (each prints PASS/FAIL/SKIP lines; exit status 1 if anything FAILed):
#   1. every patch parses (git apply --stat, outside any repository);
#   2. patches/xnu/*.patch: `git apply --check` and `patch --dry-run -p1`
#      against XNU_SRC; patches/darling/*.patch against DARLING_SRC;
#   3. all patches applied, in order, to a temporary copy of each tree;
#   4. (not with --apply-only) the patched C files are compiled with
#      `clang -fsyntax-only` for x86_64-apple-darwin20 with the include paths
#      and definitions Darling's CMake uses for them (see
#      docs/darling-patches.md), both the libsystem_kernel and the dyld
#      (-DVARIANT_DYLD) variants of the emulation objects;
#   5. (not with --apply-only) regress/*.c, the macOS regression programs,
#      get the same syntax-only check against the tree's MacOSX.sdk headers.
#
# Environment: CLANG (default: clang), TMPDIR.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# DARLING_PATCH_DIR: check another patch set (the tests use it for a
# deliberately broken copy, to show that failures are reported)
patchdir=${DARLING_PATCH_DIR:-$here/patches}

apply_only=0
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--apply-only) apply_only=1; shift ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	--) shift; break ;;
	-*) echo "unknown option: $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
xnu=${1:-${DARLING_XNU_SRC:-}}
darling=${2:-${DARLING_SRC:-}}

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIP: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/darling-patches.XXXXXX") || exit 2
cleanup() { if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# git apply inside a directory, never letting git discover a repository
# above it (git apply in a subdirectory of a repository silently skips paths
# outside that subdirectory).
git_apply_in() {
	dir=$1; shift
	(cd "$dir" && GIT_CEILING_DIRECTORIES=$(dirname "$(pwd -P)") git apply "$@")
}

xnu_patches=$(ls "$patchdir"/xnu/*.patch 2>/dev/null)
darling_patches=$(ls "$patchdir"/darling/*.patch 2>/dev/null)

# 1. parse
mkdir -p "$work/empty"
for p in $xnu_patches $darling_patches; do
	if out=$(git_apply_in "$work/empty" --stat "$p" 2>&1) && [ -n "$out" ]; then
		pass "parses: ${p#"$here"/} ($(echo "$out" | tail -n 1 | sed 's/^ *//'))"
	else
		fail "parses: ${p#"$here"/}: $out"
	fi
done

check_tree() { # label dir patches...
	label=$1 dir=$2; shift 2
	for p in "$@"; do
		n=${p#"$here"/}
		if out=$(git_apply_in "$dir" --check "$p" 2>&1); then
			pass "git apply --check $n on $label"
		else
			fail "git apply --check $n on $label: $out"
		fi
		if out=$(patch --dry-run -s -p1 -d "$dir" < "$p" 2>&1); then
			pass "patch --dry-run -p1 $n on $label"
		else
			fail "patch --dry-run -p1 $n on $label: $out"
		fi
	done
}

apply_to_copy() { # label copy patches...: apply each, in order, to a copy of the tree
	label=$1 copy=$2; shift 2
	ok=1
	for p in "$@"; do
		git_apply_in "$copy" "$p" || { ok=0; fail "apply ${p#"$here"/} to a copy of $label"; }
	done
	[ $ok = 1 ] && pass "all $label patches applied, in order, to a copy of $label"
}

# 2 + 3. apply checks, then apply to temporary copies
have_xnu=0 have_darling=0
if [ -n "$xnu" ] && [ -f "$xnu/darling/src/libsystem_kernel/emulation/linux/syscalls.c" ]; then
	have_xnu=1
	# shellcheck disable=SC2086
	check_tree darling-xnu "$xnu" $xnu_patches
	mkdir -p "$work/xnu"
	(cd "$xnu" && tar -cf - --exclude=.git .) | (cd "$work/xnu" && tar -xf -)
	# shellcheck disable=SC2086
	apply_to_copy darling-xnu "$work/xnu" $xnu_patches
else
	skip "darling-xnu tree not given or not a darling-xnu tree (XNU_SRC/DARLING_XNU_SRC='$xnu')"
fi

if [ -n "$darling" ] && [ -f "$darling/src/sandbox/sandbox.c" ]; then
	have_darling=1
	# shellcheck disable=SC2086
	check_tree darling "$darling" $darling_patches
	# the copy holds just the files the patches touch (the whole tree is large)
	for p in $darling_patches; do
		(cd "$work" && GIT_CEILING_DIRECTORIES=$work git apply --numstat "$p") | cut -f3 |
			while IFS= read -r f; do
				mkdir -p "$work/darling/${f%/*}"
				cp "$darling/$f" "$work/darling/$f"
			done
	done
	# shellcheck disable=SC2086
	apply_to_copy darling "$work/darling" $darling_patches
else
	skip "darling tree not given or not a darling tree (DARLING_SRC='$darling')"
fi

if [ "$apply_only" = 1 ]; then
	echo "apply-only: compile check not run"
	[ "$failures" = 0 ] && exit 0 || exit 1
fi

# 4. compile check
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
	skip "compile check: $CLANG not found (apt-get install clang)"
	[ "$failures" = 0 ] && exit 0 || exit 1
fi
if [ $have_xnu = 0 ] || [ $have_darling = 0 ]; then
	skip "compile check: needs both trees"
	[ "$failures" = 0 ] && exit 0 || exit 1
fi

sdk=$darling/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX.sdk/usr/include
missing=""
for sub in xnu libc libpthread libplatform libmalloc darlingserver; do
	[ -n "$(ls -A "$darling/src/external/$sub" 2>/dev/null)" ] || missing="$missing $sub"
done
if [ -n "$missing" ]; then
	skip "compile check: submodules not checked out in $darling/src/external:$missing"
	[ "$failures" = 0 ] && exit 0 || exit 1
fi

resdir=$("$CLANG" -print-resource-dir)/include
emu=$work/xnu/darling/src/libsystem_kernel/emulation/linux

# Flags reconstructed from Darling's CMake (see docs/darling-patches.md):
# top-level CMakeLists.txt IGNORED_WARNINGS; src/CMakeLists.txt definitions,
# -target/-mmacosx-version-min and include directories; darling_lib.cmake
# -arch; emulation/linux/CMakeLists.txt C flags, definitions and includes.
# -nostdinc + clang's resource dir stands in for "no host libc headers"
# (in the Nix build the unwrapped clang has no /usr/include either).
common="-fsyntax-only -target x86_64-apple-darwin20 -arch x86_64 -mmacosx-version-min=11.0
 -nostdinc -isystem $resdir
 -Wno-nullability-completeness -Wno-deprecated-declarations -Wno-availability
 -Wno-expansion-to-defined -Wno-elaborated-enum-base -Wno-undef-prefix
 -DDARLING -D__APPLE__ -D__DYNAMIC__ -D__MACH__ -D_DARWIN_C_SOURCE -D_POSIX_C_SOURCE
 -DDARWIN -DTARGET_OS_MAC=1 -DPLATFORM_MacOSX
 -I$darling/src/include -I$darling/basic-headers -I$sdk
 -I$darling/framework-include -I$darling/framework-private-include
 -idirafter $darling/src/external/lkm/include
 -idirafter $darling/src/libDiagnosticMessagesClient/include
 -idirafter $darling/src/libMobileGestalt/include
 -idirafter $darling/src/lib/include"
# EMULATED_VERSION has spaces upstream; underscores here (only a string literal).
emuflags="-std=gnu99 -fvisibility=hidden -fPIC -fno-builtin -Wno-int-conversion
 -Wno-compare-distinct-pointer-types
 -DBSDTHREAD_WRAP_LINUX_PTHREAD -DEMULATED_SYSNAME=\"Darwin\" -DEMULATED_RELEASE=\"20.6.0\"
 -DEMULATED_VERSION=\"Darwin_Kernel_Version_20.6.0\" -DEMULATED_OSVERSION=\"20G1120\"
 -DEMULATED_OSPRODUCTVERSION=\"11.7.4\"
 -I$work/xnu/darling/src/libsystem_kernel -I$emu
 -I$darling/src/external/darlingserver/include -I$darling/src/libsimple/include"

compile() { # label dir file extra-flags...
	label=$1 dir=$2 file=$3; shift 3
	# shellcheck disable=SC2086
	if out=$(cd "$dir" && "$CLANG" $common "$@" "$file" 2>&1); then
		pass "compiles ($label): $file"
	else
		fail "compiles ($label): $file"
		echo "$out" | grep -E 'error' | head -n 20 | sed 's/^/    /'
	fi
}

for f in unistd/renameatx_np.c syscalls.c xattr/setattrlist.c xattr/fsetattrlist.c \
	xattr/setattrlistat.c xattr/getattrlist.c xattr/fgetattrlist.c xattr/getattrlistat.c \
	misc/clonefile.c psynch/ulock_wait.c misc/abort_with_payload.c; do
	# shellcheck disable=SC2086
	compile libsystem_kernel "$emu" "$f" $emuflags
	# shellcheck disable=SC2086
	compile dyld "$emu" "$f" $emuflags -ffunction-sections -DVARIANT_DYLD
done

# the new source must be listed for the build, and the table entry present
if grep -q 'unistd/renameatx_np.c' "$emu/CMakeLists.txt" && grep -q '\[488\] = sys_renameatx_np' "$emu/syscalls.c"; then
	pass "renameatx_np listed in CMakeLists.txt and at index 488 of syscalls.c"
else
	fail "renameatx_np not wired into CMakeLists.txt/syscalls.c"
fi
if grep -q '\[544\] = sys_ulock_wait2' "$emu/syscalls.c"; then
	pass "ulock_wait2 at index 544 of syscalls.c"
else
	fail "ulock_wait2 not wired into syscalls.c"
fi

# src/sandbox: add_circular(system_sandbox ...) in src/sandbox/CMakeLists.txt,
# only the directory-wide flags apply
compile sandbox "$work/darling/src/sandbox" sandbox.c -I"$work/darling/src/sandbox"

# 5. the regression programs (macOS programs, run inside Darling by the VM
# test) against the SDK headers of the patched tree: only a syntax check, no
# libSystem to link against here.
regress=$here/regress
for f in "$regress"/*.c; do
	n=${f#"$here"/}
	# shellcheck disable=SC2086
	if out=$("$CLANG" -fsyntax-only -Wall -Wextra -Werror -target x86_64-apple-darwin20 \
		-mmacosx-version-min=11.0 -nostdinc -isystem "$resdir" \
		-Wno-nullability-completeness -Wno-availability -Wno-undef-prefix -Wno-expansion-to-defined \
		-I"$work/darling/src/sandbox/include" -I"$sdk" -I"$darling/basic-headers" \
		-I"$regress" "$f" 2>&1); then
		pass "regress program compiles (-fsyntax-only, SDK headers): $n"
	else
		fail "regress program compiles (-fsyntax-only, SDK headers): $n"
		echo "$out" | grep -E 'error' | head -n 20 | sed 's/^/    /'
	fi
done

[ "$failures" = 0 ] && { echo "all checks passed"; exit 0; }
echo "$failures check(s) failed"
exit 1
