/* mldr: the zero-fill of a non-PIE program's segment: patches/darling/0004-mldr-zero-fill.patch
 * Link it non-PIE (-Wl,-no_pie). It only shows the bug with the segment layout that
 * linkers other than ld64 write (zig's): __DATA's vmsize and filesize not page multiples,
 * so that the file's bytes and the zero-fill each end part-way into a page.
 * helpers/tests/real_darling/macho_layout.py rewrites ld64's __DATA that way; built
 * plainly (as regress/package.nix does) every check passes patched or not.
 * On an unpatched Darling the last page of the zero-fill is not mapped: touching
 * the end of tail[] kills the program with SIGSEGV before it prints that check. */
#include "regress.h"

/* initialised data first (file bytes), then zero-fill that spans more than a page */
char head[3001] = { 1 };
static char tail[9001];

int main(void)
{
	volatile char *last = &tail[sizeof(tail) - 1];
	volatile char *first = &tail[0];

	regress_check(head[0] == 1 && head[3000] == 0, "initialised data is the file's", 0);
	regress_check(*first == 0, "the zero-fill starts with zeros", 0);
	regress_check(*last == 0, "the last byte of the zero-fill is mapped and zero", 0);
	*last = 7;
	regress_check(*last == 7, "the last byte of the zero-fill is writable", 0);
	return regress_status();
}
