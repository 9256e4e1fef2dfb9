/* Shared helpers for the Darling regression programs in this directory.
 * macOS programs: build them against Darling's SDK (see package.nix) and
 * run them inside a Darling prefix. Each check prints one PASS/FAIL line;
 * main() returns regress_status(), non-zero when any check failed. */
#ifndef DARLING_NIX_REGRESS_H
#define DARLING_NIX_REGRESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define REGRESS_UNUSED __attribute__((unused))

static int regress_failures = 0;

REGRESS_UNUSED static void regress_check(int ok, const char *what, int err)
{
	if (ok)
		printf("PASS: %s\n", what);
	else {
		printf("FAIL: %s (errno %d: %s)\n", what, err, strerror(err));
		regress_failures++;
	}
	/* a line printed stays printed when a later check kills the program */
	fflush(stdout);
}

/* A fresh scratch directory; the caller chdir()s into it. */
REGRESS_UNUSED static const char *regress_tmpdir(const char *name)
{
	static char path[1024];
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(path, sizeof(path), "%s/%s.XXXXXX", base, name);
	if (!mkdtemp(path)) {
		printf("FAIL: mkdtemp %s (errno %d: %s)\n", path, errno, strerror(errno));
		exit(2);
	}
	if (chdir(path) != 0) {
		printf("FAIL: chdir %s (errno %d: %s)\n", path, errno, strerror(errno));
		exit(2);
	}
	return path;
}

REGRESS_UNUSED static int regress_write_file(const char *path, const char *contents)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(contents, f);
	return fclose(f);
}

REGRESS_UNUSED static int regress_file_is(const char *path, const char *contents)
{
	char buf[256];
	size_t n;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strcmp(buf, contents) == 0;
}

/* A raw Linux system call (Darling's programs run on Linux's kernel), for what the macOS
 * API has no way to ask; the fourth and fifth arguments (r10, r8) are 0, as some calls
 * (prctl's PR_SET_NO_NEW_PRIVS) require. */
REGRESS_UNUSED static long regress_linux_syscall(long nr, long a, long b, long c)
{
	long result;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	__asm__ volatile("syscall" : "=a"(result)
		: "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
		: "rcx", "r11", "memory");
	return result;
}

/* This process's voluntary context switches so far: a darlingserver round trip makes one
 * (the caller waits for the reply), so a count that does not grow shows none was made. */
REGRESS_UNUSED static long regress_voluntary_switches(void)
{
	struct rusage usage;
	getrusage(RUSAGE_SELF, &usage);
	return usage.ru_nvcsw;
}

REGRESS_UNUSED static int regress_status(void)
{
	printf("%s: %d failure(s)\n", regress_failures ? "FAILED" : "OK", regress_failures);
	return regress_failures ? 1 : 0;
}

#endif
