#!/bin/sh
# tools_probe.sh DIR: each command-line tool a builder script runs does its job, in DIR.
# One line per tool: "PASS NAME" or "FAIL NAME: got [...], want [...]"; then "uname NAME".
# Exit 1 if any failed. POSIX sh (Darling's /bin/sh is bash 3.2); the checks hold for
# GNU and BSD tools alike, so the same script runs on the host as a control.
set -u
cd "$1" || exit 2
failed=0
nl='
'

check() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then
		echo "PASS $1"
	else
		echo "FAIL $1: got [$2], want [$3]"
		failed=1
	fi
}

printf 'one\ntwo\nthree\n' > lines

mkdir -p d/e/f
check mkdir "$([ -d d/e/f ] && echo dir)" dir

cp lines d/e/copy
check cp "$(cat d/e/copy)" "one${nl}two${nl}three"

printf 'x\n' > c1
printf 'y\n' > c2
check cat "$(cat c1 c2)" "x${nl}y"

mv c1 moved
check mv "$([ ! -e c1 ] && cat moved)" x

ln -s lines link
check ln "$([ -L link ] && cat link | head -n 1)" one

printf '#!/bin/sh\necho ran\n' > script
chmod 750 script
check chmod "$(ls -l script | cut -c1-10) $(./script)" "-rwxr-x--- ran"

mkdir listing
: > listing/b; : > listing/a; : > listing/c
check ls "$(ls listing)" "a${nl}b${nl}c"

check sed "$(echo 'hello world' | sed -e 's/world/darwin/' -e 's/^h/H/')" "Hello darwin"
check sort "$(printf 'b\nc\na\n' | sort) $(printf '10\n9\n100\n' | sort -n | tr '\n' ' ')" \
	"a${nl}b${nl}c 9 10 100 "
check tr "$(echo 'abc-def' | tr 'a-z' 'A-Z' | tr -d '-')" ABCDEF
check wc "$(($(wc -l < lines))) $(($(wc -w < lines))) $(($(wc -c < lines)))" "3 3 14"
check head "$(head -n 2 lines)" "one${nl}two"
check tail "$(tail -n 1 lines)" three
check cut "$(echo 'a:b:c' | cut -d: -f2,3)" "b:c"
check awk "$(printf '1 2\n3 4\n' | awk '{ s += $1 * $2 } END { print s, NR }')" "14 2"
check grep "$(grep -c '^t' lines) $(grep -E 'o$|ee' lines | tr '\n' ' ')" "2 two three "

gzip -c lines > lines.gz
check gzip "$(gzip -dc lines.gz | tail -n 1) $(gzip -t lines.gz && echo valid)" "three valid"

# tar with -z: tar runs gzip as a child process
tar -czf d.tgz d
mkdir unpacked
tar -xzf d.tgz -C unpacked
check tar "$(cat unpacked/d/e/copy | tail -n 1) $(tar -tzf d.tgz | grep -c copy)" "three 1"

printf 'one\n2\nthree\n' > changed
diff -u lines changed > lines.diff
status=$?
check diff "$status $(grep -c '^[-+][^-+]' lines.diff)" "1 2"

patch -s lines < lines.diff
check patch "$(cat lines)" "one${nl}2${nl}three"

rm -r d listing
check rm "$([ ! -e d ] && [ ! -e listing ] && echo gone)" gone

echo "uname $(uname -s)"
exit "$failed"
