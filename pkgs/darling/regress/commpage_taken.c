/* mldr and a stack that covers the commpage's address: patches/darling/0005-mldr-commpage-taken.patch
 * The kernel places each process's stack at random, and now and then it covers the
 * commpage's fixed address, 0x7fffffe00000. Unpatched, mldr then mapped the commpage
 * elsewhere and the program read zeros at the address: libmalloc divides by the CPU
 * count it reads there, so the program died of SIGFPE before main.
 * Here the collision is made certain rather than rare: a child turns address
 * randomization off (Linux personality ADDR_NO_RANDOMIZE, a raw system call: Darling's
 * programs run on Linux's kernel) and executes this program with 1.3 MB of environment:
 * its stack, which then ends at the top of the address space, reaches to less than the
 * kernel's guard gap (1 MB) above the commpage, so mmap does not give that address,
 * while mldr's stack below it still maps: the SIGFPE seen in CI, every time.
 * Patched, mldr turns randomization on and executes again. */
#include "regress.h"
#include <mach-o/dyld.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define COMMPAGE ((const volatile char *)0x7fffffe00000ULL)
#define COMMPAGE_PHYSICAL_CPUS 0x35 /* uint8_t: libmalloc divides by it */
#define LINUX_NR_PERSONALITY 135
#define LINUX_ADDR_NO_RANDOMIZE 0x0040000
#define PADS 10
#define PAD_LENGTH (127 * 1024) /* a string may be up to 128 KiB */

extern char **environ;

static int commpage_is_ours(void)
{
	return memcmp((const char *)COMMPAGE, "commpage 64-bit", 15) == 0
		&& COMMPAGE[COMMPAGE_PHYSICAL_CPUS] != 0;
}

/* In the child, after mldr placed it: where its stack could not avoid the commpage. */
static int child(void)
{
	int pads = 0;
	char name[16];
	for (int i = 0; i < PADS; i++) {
		snprintf(name, sizeof(name), "PAD%02d", i);
		const char *value = getenv(name);
		pads += value && strlen(value) == PAD_LENGTH;
	}
	regress_check(pads == PADS, "the child has its whole environment", 0);
	regress_check(commpage_is_ours(), "the child's commpage is at its address", 0);
	regress_check(!(regress_linux_syscall(LINUX_NR_PERSONALITY, 0xffffffff, 0, 0) & LINUX_ADDR_NO_RANDOMIZE),
		"mldr turned randomization on to move the child's stack", 0);
	return regress_status();
}

int main(int argc, char **argv)
{
	char self[4096];
	uint32_t size = sizeof(self);
	int status = 0;

	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();

	regress_check(commpage_is_ours(), "this program's commpage is at its address", 0);
	if (_NSGetExecutablePath(self, &size) != 0) {
		regress_check(0, "_NSGetExecutablePath", errno);
		return regress_status();
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* a group of its own: unpatched Darling (without patch xnu/0005-signal-self)
		 * sends a crash on to the whole process group, and this program must live
		 * to say how the child ended */
		setpgid(0, 0);
		/* room for the environment: Linux allows a quarter of the stack limit; only the
		 * soft limit is raised (the hard one may be lower, for a user) */
		struct rlimit stack;
		if (getrlimit(RLIMIT_STACK, &stack) != 0)
			_exit(126);
		/* RLIM_INFINITY (2^63 - 1) is above any finite limit: no special case for it */
		if (stack.rlim_cur < (32 << 20))
			stack.rlim_cur = stack.rlim_max < (32 << 20) ? stack.rlim_max : (32 << 20);
		/* the raw system call returns -errno */
		if (setrlimit(RLIMIT_STACK, &stack) != 0
				|| regress_linux_syscall(LINUX_NR_PERSONALITY, LINUX_ADDR_NO_RANDOMIZE, 0, 0) < 0)
			_exit(126);
		size_t count = 0;
		while (environ[count])
			count++;
		char **env = calloc(count + PADS + 1, sizeof(char *));
		memcpy(env, environ, count * sizeof(char *));
		for (int i = 0; i < PADS; i++) {
			char *pad = malloc(PAD_LENGTH + 7);
			snprintf(pad, 7, "PAD%02d=", i);
			memset(pad + 6, 'x', PAD_LENGTH);
			pad[6 + PAD_LENGTH] = 0;
			env[count + i] = pad;
		}
		char *child_argv[] = { "commpage_taken", "child", NULL };
		execve(self, child_argv, env);
		_exit(127);
	}
	regress_check(pid > 0 && waitpid(pid, &status, 0) == pid, "fork and wait for the child", errno);
	if (WIFSIGNALED(status))
		printf("the child died of signal %d\n", WTERMSIG(status));
	regress_check(!(WIFEXITED(status) && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127)),
		"the child was set up (stack limit, personality, execve)", 0);
	regress_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"a program whose stack covers the commpage's address runs, and its checks pass", 0);
	return regress_status();
}
