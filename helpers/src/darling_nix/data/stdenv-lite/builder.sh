# The lite stdenv's generic builder: the phases of nixpkgs' generic builder (unpack, patch,
# configure, build, check, install), written for bash 3.2, Darling's /bin/bash. It runs the
# same on Linux, which is how bench/hello_build.py measures the native side.
set -eu -o pipefail
# A build report in $out/nix-support: where it ran (uname -s, asked from inside the build),
# each phase's time, and how often the compiler died and was run again.
report=$NIX_BUILD_TOP/.build-report
echo "uname $(uname -s)" > "$report"
export CC_RETRIES_LOG=$NIX_BUILD_TOP/.cc-retries
: > "$CC_RETRIES_LOG"

# nanoseconds where date has %N (GNU), else whole seconds (BSD date prints a literal N)
now() {
  t=$(date +%s%N)
  case $t in *N) echo "${t%N}000000000" ;; *) echo "$t" ;; esac
}

unpackPhase() {
  # Darling's tar does not take gzip itself ("Cannot identify format"): gzip unpacks it
  case $src in
    *.gz | *.tgz) gzip -dc "$src" | tar -xf - ;;
    *) tar -xf "$src" ;;
  esac
  set -- */
  [ $# -eq 1 ] && [ -d "$1" ] || { echo "unpack: $src does not unpack to one directory" >&2; return 1; }
  sourceRoot=${1%/}
}
patchPhase() {
  for p in $patches; do patch -p1 < "$p"; done
}
configurePhase() {
  # config.log says why a probe failed; Nix's log keeps only what the build printed
  ./configure --prefix="$out" $configureFlags || {
    status=$?
    [ ! -f config.log ] || { echo "configure failed; the end of config.log:" >&2; tail -n 40 config.log >&2; }
    return $status
  }
}
# Nix passes its `cores` setting, where 0 means all of them (make refuses -j0)
cores=${NIX_BUILD_CORES:-1}
if [ "$cores" -le 0 ]; then
  cores=$(sysctl -n hw.ncpu 2>/dev/null || nproc 2>/dev/null || echo 1)
fi
buildPhase() {
  make -j"$cores"
}
checkPhase() {
  [ -z "$doCheck" ] || make check
}
installPhase() {
  make install
}

cd "$NIX_BUILD_TOP"
# zig's cache, warmed by the tools (zig-cache.sh); cc finds it at $NIX_BUILD_TOP/.zig-cache
if [ -n "${zigCache:-}" ]; then
  cp -R "$zigCache" .zig-cache
  chmod -R u+w .zig-cache
fi
for phase in unpack patch configure build check install; do
  echo "==> $phase" >&2
  started=$(now)
  "${phase}Phase"
  echo "phase $phase $(( $(now) - started ))" >> "$report"
  [ "$phase" != unpack ] || cd "$sourceRoot"
done
echo "cc retries $(wc -l < "$CC_RETRIES_LOG" | tr -d ' ')" >> "$report"
mkdir -p "$out/nix-support"
cp "$report" "$out/nix-support/build-report"
