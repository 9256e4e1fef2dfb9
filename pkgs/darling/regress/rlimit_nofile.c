/* A program that lowers its open-file limit can still start threads and fork:
 * patches/xnu/0006-rlimit-nofile.patch
 * Darling keeps each thread's darlingserver socket at the top of the descriptor range
 * the process started with. zig lowers RLIMIT_NOFILE to OPEN_MAX (10240) at start-up;
 * its first fork's child could then not dup2 its socket into place, aborted, and zig
 * waited for it forever. Here the limit goes lower still, below Darling's sockets. */
#include "regress.h"
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>

#define LOWERED 256

static void *thread_main(void *arg)
{
	*(int *)arg = 42;
	return NULL;
}

int main(void)
{
	struct rlimit lim = { LOWERED, LOWERED };
	pthread_t thread;
	int thread_ran = 0, status = 0, fd;
	pid_t child;

	regress_check(1, "started", 0);
	regress_check(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit lowers RLIMIT_NOFILE to 256", errno);
	lim.rlim_cur = lim.rlim_max = 0;
	regress_check(getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur == LOWERED
		&& lim.rlim_max == LOWERED, "getrlimit reports the lowered limit", errno);
	lim.rlim_cur = LOWERED + 1;
	lim.rlim_max = LOWERED;
	regress_check(setrlimit(RLIMIT_NOFILE, &lim) == -1 && errno == EINVAL,
		"a soft limit above the hard one is EINVAL", errno);
	fd = open("/dev/null", O_RDONLY);
	regress_check(fd >= 0 && fd < LOWERED, "open still gives a descriptor below the limit", errno);
	if (fd >= 0)
		close(fd);
	regress_check(pthread_create(&thread, NULL, thread_main, &thread_ran) == 0
		&& pthread_join(thread, NULL) == 0 && thread_ran == 42,
		"a thread started after lowering runs", errno);
	child = fork();
	if (child == 0)
		_exit(7);
	regress_check(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status)
		&& WEXITSTATUS(status) == 7, "a child forked after lowering runs and exits 7", errno);
	return regress_status();
}
