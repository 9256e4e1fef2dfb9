/* setattrlist/getattrlist ATTR_CMN_FLAGS: patches/xnu/0002-attrlist-cmn-flags.patch
 * Nix's canonicalisePathMetaData() calls lchflags(path, 0) on every path it
 * registers; Libc implements that on a symlink with
 * setattrlist(ATTR_CMN_FLAGS, FSOPT_NOFOLLOW). */
#include "regress.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/attr.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef VT_HFS
#define VT_HFS 16 /* enum vtagtype in <sys/vnode.h>; Darling reports HFS */
#endif

struct flags_reply {
	uint32_t length;
	uint32_t flags;
} __attribute__((packed));

struct tag_finder_flags_reply {
	uint32_t length;
	uint32_t objtag;        /* ATTR_CMN_OBJTAG   0x00000010 */
	char finderinfo[32];    /* ATTR_CMN_FNDRINFO 0x00004000 */
	uint32_t flags;         /* ATTR_CMN_FLAGS    0x00040000 */
} __attribute__((packed));

int main(void)
{
	int r, e, fd;
	struct attrlist al;
	uint32_t flags;
	struct flags_reply reply;
	struct tag_finder_flags_reply big;

	regress_tmpdir("setattrlist_flags");
	regress_write_file("file", "x");
	r = symlink("file", "link");
	regress_check(r == 0, "symlink created", errno);
	r = symlink("does-not-exist", "dangling");
	regress_check(r == 0, "dangling symlink created", errno);

	/* what Nix does */
	r = lchflags("link", 0); e = errno;
	regress_check(r == 0, "lchflags(symlink, 0) succeeds", e);
	r = lchflags("dangling", 0); e = errno;
	regress_check(r == 0, "lchflags(dangling symlink, 0) succeeds", e);
	r = lchflags("file", 0); e = errno;
	regress_check(r == 0 || e == ENOTSUP, "lchflags(file, 0) succeeds or ENOTSUP (Nix tolerates ENOTSUP)", e);

	/* setattrlist directly */
	memset(&al, 0, sizeof(al));
	al.bitmapcount = ATTR_BIT_MAP_COUNT;
	al.commonattr = ATTR_CMN_FLAGS;
	flags = 0;
	r = setattrlist("link", &al, &flags, sizeof(flags), FSOPT_NOFOLLOW); e = errno;
	regress_check(r == 0, "setattrlist(ATTR_CMN_FLAGS=0, FSOPT_NOFOLLOW) on symlink", e);
	r = setattrlistat(AT_FDCWD, "link", &al, &flags, sizeof(flags), FSOPT_NOFOLLOW); e = errno;
	regress_check(r == 0, "setattrlistat(ATTR_CMN_FLAGS=0) on symlink", e);
	fd = open("file", O_RDONLY);
	r = fsetattrlist(fd, &al, &flags, sizeof(flags), 0); e = errno;
	regress_check(r == 0, "fsetattrlist(ATTR_CMN_FLAGS=0)", e);
	close(fd);

	flags = UF_IMMUTABLE;
	errno = 0;
	r = setattrlist("link", &al, &flags, sizeof(flags), FSOPT_NOFOLLOW); e = errno;
	regress_check(r == -1 && e == ENOTSUP, "setattrlist(ATTR_CMN_FLAGS=UF_IMMUTABLE) fails with ENOTSUP", e);

	flags = 0;
	errno = 0;
	r = setattrlist("missing", &al, &flags, sizeof(flags), FSOPT_NOFOLLOW); e = errno;
	regress_check(r == -1 && e == ENOENT, "setattrlist(ATTR_CMN_FLAGS=0) on a missing path fails with ENOENT", e);

	/* CRTIME / CHGTIME are tolerated together with MODTIME */
	{
		struct timespec ts[3];
		struct stat st;
		memset(ts, 0, sizeof(ts));
		ts[1].tv_sec = 1000000000; /* MODTIME is the second value (bit order) */
		memset(&al, 0, sizeof(al));
		al.bitmapcount = ATTR_BIT_MAP_COUNT;
		al.commonattr = ATTR_CMN_CRTIME | ATTR_CMN_MODTIME | ATTR_CMN_CHGTIME;
		r = setattrlist("file", &al, ts, sizeof(ts), 0); e = errno;
		regress_check(r == 0, "setattrlist(CRTIME|MODTIME|CHGTIME) accepted", e);
		regress_check(stat("file", &st) == 0 && st.st_mtime == 1000000000,
			"setattrlist(CRTIME|MODTIME|CHGTIME) set the modification time", errno);
	}

	/* getattrlist ATTR_CMN_FLAGS */
	memset(&al, 0, sizeof(al));
	al.bitmapcount = ATTR_BIT_MAP_COUNT;
	al.commonattr = ATTR_CMN_FLAGS;
	memset(&reply, 0xff, sizeof(reply));
	r = getattrlist("link", &al, &reply, sizeof(reply), FSOPT_NOFOLLOW); e = errno;
	regress_check(r == 0 && reply.length == sizeof(reply) && reply.flags == 0,
		"getattrlist(ATTR_CMN_FLAGS) on symlink returns length 8, flags 0", e);
	errno = 0;
	r = getattrlist("missing", &al, &reply, sizeof(reply), 0); e = errno;
	regress_check(r == -1 && e == ENOENT, "getattrlist on a missing path fails with ENOENT", e);

	/* Apple's order: OBJTAG, FNDRINFO, FLAGS */
	al.commonattr = ATTR_CMN_FLAGS | ATTR_CMN_FNDRINFO | ATTR_CMN_OBJTAG;
	memset(&big, 0xff, sizeof(big));
	r = getattrlist("file", &al, &big, sizeof(big), 0); e = errno;
	regress_check(r == 0 && big.length == sizeof(big) && big.objtag == VT_HFS && big.flags == 0,
		"getattrlist(OBJTAG|FNDRINFO|FLAGS) packs values in bit order", e);

	/* a short buffer gets a truncated reply, never more than bufferSize */
	{
		char small[6];
		memset(small, 0x5a, sizeof(small));
		r = getattrlist("file", &al, small, 4, 0); e = errno;
		regress_check(r == 0 && *(uint32_t *) small == 4 && small[4] == 0x5a && small[5] == 0x5a,
			"getattrlist with a 4-byte buffer writes 4 bytes and reports length 4", e);
		r = getattrlist("file", &al, small, 4, FSOPT_REPORT_FULLSIZE); e = errno;
		regress_check(r == 0 && *(uint32_t *) small == sizeof(big),
			"FSOPT_REPORT_FULLSIZE reports the full size", e);
	}

	unlink("link"); unlink("dangling"); unlink("file");
	return regress_status();
}
