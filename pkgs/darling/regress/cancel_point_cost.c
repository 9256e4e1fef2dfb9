/* A cancelable syscall asks darlingserver about cancellation only once a thread of the
 * process has been marked: patches/xnu/0010-pthread-cancel.patch. Darling made that
 * round trip before every close, read, write, ... of a process that had started a thread,
 * and in the fork children of such a process: Nix's builder start, which closes every
 * descriptor up to sysconf(_SC_OPEN_MAX) in the child of the threaded nix-daemon, made
 * 20 000 of them. A round trip waits for darlingserver, so it counts as a voluntary
 * context switch: the checks count those, not time. */
#include "regress.h"
#include <pthread.h>
#include <sys/wait.h>

#define CLOSES 2000
#define AT_MOST 100

static void *returns(void *arg) { return arg; }

static void *tests_cancel(void *arg)
{
	(void)arg;
	for (;;)
		pthread_testcancel();
	return NULL;
}

/* the voluntary context switches CLOSES close() calls of unused descriptors made */
static long switches_of_closes(void)
{
	long before = regress_voluntary_switches();
	for (int fd = 1000; fd < 1000 + CLOSES; fd++)
		close(fd);
	return regress_voluntary_switches() - before;
}

static int closes_cheaply(long switches)
{
	if (switches >= AT_MOST)
		printf("(%ld voluntary context switches for %d closes)\n", switches, CLOSES);
	return switches < AT_MOST;
}

int main(void)
{
	pthread_t thread;
	void *result;
	int fds[2];
	char byte = 0;
	pid_t child;
	long in_child = -1;
	int status;

	regress_check(closes_cheaply(switches_of_closes()),
		"2000 closes without a thread do not wait for darlingserver", 0);

	regress_check(pthread_create(&thread, NULL, returns, NULL) == 0
		&& pthread_join(thread, NULL) == 0, "a thread started and ended", errno);
	regress_check(closes_cheaply(switches_of_closes()),
		"2000 closes after a thread do not wait for darlingserver", 0);

	regress_check(pipe(fds) == 0, "a pipe", errno);
	child = fork();
	if (child == 0) {
		in_child = switches_of_closes();
		write(fds[1], &in_child, sizeof(in_child));
		_exit(0);
	}
	read(fds[0], &in_child, sizeof(in_child));
	waitpid(child, &status, 0);
	regress_check(in_child >= 0 && closes_cheaply(in_child),
		"2000 closes in a threaded process's fork child do not wait for darlingserver", 0);

	/* what the calls do is unchanged */
	errno = 0;
	regress_check(close(1999) == -1 && errno == EBADF, "close of an unused descriptor is EBADF", errno);
	regress_check(write(fds[1], "x", 1) == 1 && read(fds[0], &byte, 1) == 1 && byte == 'x',
		"a byte goes through a pipe", errno);

	/* cancellation still works, and the calls after a mark still answer */
	regress_check(pthread_create(&thread, NULL, tests_cancel, NULL) == 0
		&& pthread_cancel(thread) == 0 && pthread_join(thread, &result) == 0
		&& result == PTHREAD_CANCELED, "a canceled thread ends with PTHREAD_CANCELED", errno);
	errno = 0;
	regress_check(close(1999) == -1 && errno == EBADF && write(fds[1], "y", 1) == 1
		&& read(fds[0], &byte, 1) == 1 && byte == 'y',
		"after a cancel, close is EBADF and the pipe works", errno);

	return regress_status();
}
