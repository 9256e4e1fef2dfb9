# zig's global cache, warmed once for every build of the lite stdenv. The first link of each
# optimisation mode builds compiler_rt with all cores (about 8 s; where zig died under Darling
# before its mutex worked, docs/compat.md); builder.sh starts each build from a copy of this
# cache, so its compiles run warm. cc itself reruns a crashed zig; a cache left bad by a crash
# (a link that then fails) is thrown away and built again, up to 3 times.
set -eu
export ZIG_GLOBAL_CACHE_DIR="$out" ZIG_LOCAL_CACHE_DIR="$NIX_BUILD_TOP/local-cache"
cd "$NIX_BUILD_TOP"
printf 'int main(void) { return 0; }\n' > warm.c
tries=0
# configure's first probes compile without flags, the rest with its CFLAGS, -g -O2
until cc warm.c -o warm-plain && cc -g -O2 warm.c -o warm-optimised \
      && ./warm-plain && ./warm-optimised; do
  tries=$((tries + 1))
  if [ $tries -ge 3 ]; then
    echo "zig-cache: zig could not link and run a C program in 3 tries" >&2
    exit 1
  fi
  echo "zig-cache: the link failed; starting zig's cache again ($tries)" >&2
  rm -rf "$out" "$ZIG_LOCAL_CACHE_DIR" warm-plain warm-optimised
done
