#!/bin/sh
# copy-sdk.sh: Darling's SDK, copied out of a built source tree so that it stands
# on its own. Shared by the Nix package (package.nix, postInstall: the `sdk`
# output) and the host build (`darling-nix darling build`).
#
#   copy-sdk.sh SRC_ROOT BUILD_DIR DEST
#
#   SRC_ROOT   the Darling source tree (holds Developer/)
#   BUILD_DIR  its CMake build directory (holds the cctools it built)
#   DEST       where DEST/Developer and DEST/bin are made; neither may exist yet
#
# Darling's Developer/ is mostly symbolic links (about 2,600 at 25afbc76): into
# src/ for headers, into build/ for the built dylibs, between its own parts,
# and one absolute link to the host's /usr/bin/git. Copied as links they would
# dangle (in the Nix store: the no-broken-symlinks check fails). So each link
# whose target lies under SRC_ROOT or BUILD_DIR but outside Developer/ is
# replaced by a copy of its target; a relative link that stays inside
# Developer/ is kept as it is; a link that dangles, or that leads outside both
# trees (a host path), is dropped and reported. Inside a copied directory every
# link is followed. DEST/bin gets cctools' ld, ar and ranlib (also under their
# plain names). The result is checked: no link in DEST may dangle.
#
# Exit status: 0 done; 2 bad arguments (one line says which); 1 the copy
# failed. Nothing is left in DEST on failure. Needs GNU coreutils (readlink -e,
# realpath -m -s); file names with a newline are not supported (the copy fails).
set -eu

fail() { # status message
	echo "copy-sdk: $2" >&2
	exit "$1"
}

[ $# -eq 3 ] || fail 2 "usage: copy-sdk.sh SRC_ROOT BUILD_DIR DEST"
[ -d "$1/Developer" ] || fail 2 "$1/Developer: no such directory (SRC_ROOT must be a Darling source tree)"
[ -d "$2" ] || fail 2 "$2: no such directory (BUILD_DIR)"
src=$(cd "$1" && pwd -P)
build=$(cd "$2" && pwd -P)
dev=$src/Developer
dest=$3
for name in Developer bin; do
	if [ -e "$dest/$name" ] || [ -L "$dest/$name" ]; then
		fail 2 "$dest/$name already exists (DEST must not hold Developer or bin)"
	fi
done

cctools=$build/src/external/cctools-port/cctools
tools="$cctools/ld64/src/x86_64-apple-darwin20-ld $cctools/ar/x86_64-apple-darwin20-ar $cctools/ar/x86_64-apple-darwin20-ranlib"
for tool in $tools; do
	[ -f "$tool" ] || fail 2 "$tool: not built (BUILD_DIR must be a finished Darling build)"
done

mkdir -p "$dest"
stage=$(mktemp -d "$dest/.copy-sdk.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM
log=$stage/log
: >"$log"

# copy_followed FROM TO: FROM (a file or directory) with every link in it followed
copy_followed() {
	if [ ! -d "$1" ]; then
		cp -L "$1" "$2"
		return
	fi
	# one cp when nothing in it dangles (under -L a dangling link stays type l)
	if [ -z "$(find -L "$1" -type l)" ]; then
		cp -RL "$1" "$2"
		return
	fi
	mkdir "$2"
	(cd "$1" && find -L . -mindepth 1) | while IFS= read -r rel; do
		if [ -L "$1/$rel" ] && [ ! -e "$1/$rel" ]; then
			echo "drop $2/$rel (dangles)" >>"$log"
		elif [ -d "$1/$rel" ]; then
			mkdir -p "$2/$rel"
		else
			cp -L "$1/$rel" "$2/$rel"
		fi
	done
}

out=$stage/Developer
mkdir "$out"
(cd "$dev" && find . -mindepth 1) | while IFS= read -r rel; do
	rel=${rel#./}
	path=$dev/$rel
	to=$out/$rel
	if [ ! -L "$path" ]; then
		if [ -d "$path" ]; then mkdir -p "$to"; else cp "$path" "$to"; fi
		continue
	fi
	text=$(readlink "$path")
	if ! target=$(readlink -e -- "$path"); then
		echo "drop $rel -> $text (dangles)" >>"$log"
		continue
	fi
	lexical=$(realpath -m -s -- "$(dirname "$path")/$text")
	case $target in
	"$dev" | "$dev"/*)
		case $text,$lexical in
		/*) how=copy ;;
		*,"$dev"/*) how=keep ;;
		*) how=copy ;;
		esac
		;;
	"$src"/* | "$build"/*) how=copy ;;
	*)
		echo "drop $rel -> $text (outside the source and build trees)" >>"$log"
		continue
		;;
	esac
	if [ "$how" = keep ]; then ln -s "$text" "$to"; else copy_followed "$path" "$to"; fi
	echo "$how $rel" >>"$log"
done

mkdir "$stage/bin"
for tool in $tools; do
	cp "$tool" "$stage/bin/"
	plain=${tool##*-}
	ln -s "${tool##*/}" "$stage/bin/$plain"
done

dangling=$(find "$stage/Developer" "$stage/bin" -xtype l)
[ -z "$dangling" ] || fail 1 "links that dangle in the copy: $(echo "$dangling" | head -n 5)"

count() { grep -c "^$1 " "$log" || true; }
if [ "$(count drop)" -gt 0 ]; then
	grep '^drop ' "$log" | head -n 20 | sed 's/^/copy-sdk: /' >&2
fi
echo "copy-sdk: $(count copy) links replaced by copies, $(count keep) kept, $(count drop) dropped"

mv "$stage/Developer" "$dest/Developer"
mv "$stage/bin" "$dest/bin"
