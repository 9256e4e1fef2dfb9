/* renameatx_np (BSD syscall 488): patches/xnu/0001-renameatx_np.patch */
#include "regress.h"
#include <fcntl.h>
#include <stdio.h>

#ifndef RENAME_SWAP
#define RENAME_SWAP 0x00000002
#endif
#ifndef RENAME_EXCL
#define RENAME_EXCL 0x00000004
#endif

int main(void)
{
	int r, e;
	regress_tmpdir("renameatx_np");

	regress_write_file("a", "A");
	regress_write_file("b", "B");

	/* flags 0: plain rename */
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "c", 0); e = errno;
	regress_check(r == 0 && regress_file_is("c", "A") && access("a", F_OK) != 0,
		"renameatx_np(flags 0) renames", e);
	rename("c", "a");

	/* RENAME_EXCL onto an existing name: EEXIST, nothing changed */
	errno = 0;
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCL); e = errno;
	regress_check(r == -1 && e == EEXIST, "RENAME_EXCL onto existing file fails with EEXIST", e);
	regress_check(regress_file_is("a", "A") && regress_file_is("b", "B"),
		"RENAME_EXCL failure left both files alone", 0);

	/* RENAME_EXCL onto a free name: renamed */
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "n", RENAME_EXCL); e = errno;
	regress_check(r == 0 && regress_file_is("n", "A") && access("a", F_OK) != 0,
		"RENAME_EXCL onto a free name renames", e);

	/* renamex_np goes through the same syscall */
	r = renamex_np("n", "a", RENAME_EXCL); e = errno;
	regress_check(r == 0 && regress_file_is("a", "A"), "renamex_np(RENAME_EXCL) renames", e);

	/* RENAME_SWAP exchanges */
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_SWAP); e = errno;
	regress_check(r == 0 && regress_file_is("a", "B") && regress_file_is("b", "A"),
		"RENAME_SWAP exchanges two files", e);

	/* RENAME_SWAP with a missing side: ENOENT */
	errno = 0;
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "missing", RENAME_SWAP); e = errno;
	regress_check(r == -1 && e == ENOENT, "RENAME_SWAP with a missing target fails with ENOENT", e);

	/* invalid flags: EINVAL, not ENOSYS */
	errno = 0;
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_SWAP | RENAME_EXCL); e = errno;
	regress_check(r == -1 && e == EINVAL, "RENAME_SWAP|RENAME_EXCL fails with EINVAL", e);
	errno = 0;
	r = renameatx_np(AT_FDCWD, "a", AT_FDCWD, "b", 0x100); e = errno;
	regress_check(r == -1 && e == EINVAL, "unknown flag fails with EINVAL", e);

	unlink("a"); unlink("b");
	return regress_status();
}
