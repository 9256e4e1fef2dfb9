/* clonefileat/fclonefileat: patches/xnu/0003-clonefile-enotsup.patch
 * Darling cannot clone; callers (e.g. Rust's std::fs::copy) fall back to
 * copying only on ENOTSUP, so that is what must come back, not ENOSYS. */
#include "regress.h"
#include <fcntl.h>
#include <sys/clonefile.h>

int main(void)
{
	int r, e, fd;
	regress_tmpdir("clonefile");
	regress_write_file("src", "data");

	errno = 0;
	r = clonefile("src", "dst1", 0); e = errno;
	regress_check(r == -1 && e == ENOTSUP, "clonefile fails with ENOTSUP", e);

	errno = 0;
	r = clonefileat(AT_FDCWD, "src", AT_FDCWD, "dst2", CLONE_NOFOLLOW); e = errno;
	regress_check(r == -1 && e == ENOTSUP, "clonefileat fails with ENOTSUP", e);

	fd = open("src", O_RDONLY);
	errno = 0;
	r = fclonefileat(fd, AT_FDCWD, "dst3", 0); e = errno;
	regress_check(r == -1 && e == ENOTSUP, "fclonefileat fails with ENOTSUP", e);
	close(fd);

	regress_check(access("dst1", F_OK) != 0 && access("dst2", F_OK) != 0 && access("dst3", F_OK) != 0,
		"no destination was created", errno);

	unlink("src");
	return regress_status();
}
