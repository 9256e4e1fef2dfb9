/* A fork while other threads start and end: patches/darling/0007-mldr-fork.patch with
 * patches/xnu/0012-fork-through-mldr.patch.
 * A fork's child starts by closing the RPC sockets of its parent's other threads, each under
 * mldr's socket bitmap lock, which a thread holds while it starts or ends. Darling forked
 * with a raw system call, so a child forked while another thread held that lock waited for it
 * for ever, and its parent with it (fork waits for the child to check in with
 * darlingserver). Nix's daemon has threads and forks for every build.
 * Here two threads start and end threads (MAX_THREADS at most: without
 * xnu/0013-sigaltstack-thread-exit, as on the control build, a process dies of SIGILL near
 * 32 000) while the main thread forks FORKS
 * times, each time just after starting a thread that ends at once (each child _exits at
 * once). A watchdog thread reports a FAIL when no fork has ended for STALL_SECONDS.
 * Unpatched, one of the first hundred forks or so hangs (after 4 to 94 forks in seven runs). */
#include "regress.h"
#include <pthread.h>
#include <sys/wait.h>

#define FORKS 300
#define CHURNERS 2
#define STALL_SECONDS 10
#define MAX_THREADS 10000
#define CHECK_FORKS "every fork of a process whose threads start and end returns, and its child exits"

static volatile int stop;
static volatile long threads_made, forks_ended;

static void *nothing(void *arg)
{
	return arg;
}

static void *churns(void *arg)
{
	(void)arg;
	while (!stop && threads_made < MAX_THREADS) {
		pthread_t thread;
		if (pthread_create(&thread, NULL, nothing, NULL) == 0 && pthread_join(thread, NULL) == 0)
			__sync_fetch_and_add(&threads_made, 1);
	}
	return NULL;
}

static void *watches(void *arg)
{
	(void)arg;
	long seen = -1;
	int still = 0;
	for (;;) {
		sleep(1);
		if (stop)
			return NULL;
		still = forks_ended == seen ? still + 1 : 0;
		seen = forks_ended;
		if (still >= STALL_SECONDS) {
			/* write(), not stdio: the forking thread may hold stdio's locks (libc's fork
			 * takes them for the child) */
			char line[256];
			int n = snprintf(line, sizeof(line), "(%ld of %d forks ended, then none for %d s)\n"
				"FAIL: " CHECK_FORKS "\n", seen, FORKS, STALL_SECONDS);
			write(STDOUT_FILENO, line, (size_t)n);
			_exit(1);
		}
	}
}

int main(void)
{
	pthread_t churner[CHURNERS], watchdog;
	int exited = 0;
	for (int i = 0; i < CHURNERS; i++)
		pthread_create(&churner[i], NULL, churns, NULL);
	pthread_create(&watchdog, NULL, watches, NULL);
	for (int i = 0; i < FORKS; i++) {
		pthread_t ending; /* its end races the fork */
		int started = pthread_create(&ending, NULL, nothing, NULL) == 0;
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (started)
			pthread_join(ending, NULL);
		int status = -1;
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			exited++;
		forks_ended++;
	}
	stop = 1;
	for (int i = 0; i < CHURNERS; i++)
		pthread_join(churner[i], NULL);
	printf("(%d of %d children exited 0; %ld threads started and ended meanwhile)\n", exited, FORKS, threads_made);
	regress_check(exited == FORKS, CHECK_FORKS, 0);
	regress_check(threads_made >= FORKS, "the other threads started and ended threads all along", 0);
	return regress_status();
}
