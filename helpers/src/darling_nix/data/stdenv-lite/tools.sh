# The lite stdenv's compiler tools: zig (PyPI's macOS wheel) behind cc, c++, ar and ranlib,
# and make. zig dies of SIGSEGV or SIGABRT in some of its runs under Darling (docs/compat.md);
# cc and c++ run it again then, up to 5 times, and note each retry where the builder counts them.
set -eu
mkdir -p "$out/bin"
for tool in cc c++; do
  cat > "$out/bin/$tool" <<WRAPPER
#!/bin/sh
top=\${NIX_BUILD_TOP:-\${TMPDIR:-/tmp}}
export ZIG_GLOBAL_CACHE_DIR=\${ZIG_GLOBAL_CACHE_DIR:-\$top/.zig-cache} ZIG_LOCAL_CACHE_DIR=\${ZIG_LOCAL_CACHE_DIR:-\$top/.zig-cache}
tries=0
while :; do
  status=0
  "$zig/zig" $tool "\$@" || status=\$?
  case \$status in
    134|139) tries=\$((tries + 1))
             echo "$tool: zig died (exit \$status), running it again (\$tries)" >&2
             [ -z "\${CC_RETRIES_LOG:-}" ] || echo "\$status" >> "\$CC_RETRIES_LOG"
             [ \$tries -lt 5 ] && continue ;;
  esac
  exit \$status
done
WRAPPER
done
for tool in ar ranlib; do
  printf '#!/bin/sh\nexec "%s/zig" %s "$@"\n' "$zig" "$tool" > "$out/bin/$tool"
done
chmod 555 "$out/bin/cc" "$out/bin/c++" "$out/bin/ar" "$out/bin/ranlib"
ln -s "$make" "$out/bin/make"
