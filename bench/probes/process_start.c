/* Where a process start goes (bench/process_start.py): the same operations built for Linux
 * and for macOS, run on the host and under Darling. Prints "name microseconds" lines, each
 * the median of its repetitions. Run as `process_start [REPS]`; it re-runs itself with
 * "exit" (exit at once) and "exec N" (exec itself N more times) as the small program. */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static const char *self;

static double now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1e6 + tv.tv_usec;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, double *samples, int n)
{
	qsort(samples, n, sizeof(double), by_value);
	printf("%s %.1f\n", name, samples[n / 2]);
	fflush(stdout);
}

static void run_small(const char *how)
{
	char *argv[] = {(char *)self, "exit", NULL};
	pid_t pid;
	int status;
	if (strcmp(how, "posix_spawn") == 0) {
		posix_spawn(&pid, self, NULL, NULL, argv, environ);
	} else {
		pid = strcmp(how, "vfork") == 0 ? vfork() : fork();
		if (pid == 0) {
			if (strcmp(how, "fork-only") != 0)
				execv(self, argv);
			_exit(0);
		}
	}
	waitpid(pid, &status, 0);
}

/* run_small(HOW), REPS times, and its median reported as NAME */
static void report_small(const char *name, const char *how, double *samples, int reps)
{
	for (int i = 0; i < reps; i++) {
		double start = now_us();
		run_small(how);
		samples[i] = now_us() - start;
	}
	report(name, samples, reps);
}

static void *returns(void *arg) { return arg; }

/* the shell starting /usr/bin/true COUNT times, waited for, in microseconds */
static double shell_loop(const char *count)
{
	char *argv[] = {"/bin/sh", "-c",
		"i=0; while [ $i -lt $0 ]; do /usr/bin/true; i=$((i + 1)); done", (char *)count, NULL};
	double start = now_us();
	pid_t pid;
	posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	waitpid(pid, NULL, 0);
	return now_us() - start;
}

/* close() of an unused descriptor, in microseconds: REPS samples of 100 closes each */
static void report_closes(const char *name, double *samples, int reps)
{
	for (int i = 0; i < reps; i++) {
		double start = now_us();
		for (int fd = 1000; fd < 1100; fd++)
			close(fd);
		samples[i] = (now_us() - start) / 100;
	}
	report(name, samples, reps);
}

/* Nix's closeMostFDs on macOS: close every descriptor but 0-2 up to sysconf(_SC_OPEN_MAX),
 * in a fork child of a threaded process (nix-daemon); the child reports its time */
static double close_most_fds_in_child(void)
{
	int fds[2];
	double spent = -1;
	pipe(fds);
	pid_t pid = fork();
	if (pid == 0) {
		long max = sysconf(_SC_OPEN_MAX);
		double start = now_us();
		for (int fd = 3; fd < max; fd++)
			if (fd != fds[1])
				close(fd);
		spent = now_us() - start;
		write(fds[1], &spent, sizeof spent);
		_exit(0);
	}
	read(fds[0], &spent, sizeof spent);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	return spent;
}

int main(int argc, char **argv)
{
	int reps = 15;
	double samples[64], start;
	self = argv[0];
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return 0;
	if (argc > 2 && strcmp(argv[1], "exec") == 0) {
		int left = atoi(argv[2]);
		char count[16];
		if (left <= 0)
			return 0;
		snprintf(count, sizeof count, "%d", left - 1);
		execl(self, self, "exec", count, (char *)NULL);
		return 127;
	}
	if (argc > 1)
		reps = atoi(argv[1]) > 0 && atoi(argv[1]) <= 64 ? atoi(argv[1]) : 15;

	report_closes("close_unused_fd_no_threads", samples, reps);

	const char *hows[] = {"fork-only", "fork", "vfork", "posix_spawn"};
	const char *names[] = {"fork_exit_wait", "fork_exec_wait", "vfork_exec_wait", "posix_spawn_wait"};
	for (int h = 0; h < 4; h++)
		report_small(names[h], hows[h], samples, reps);

	/* exec alone, dyld and libSystem's start included: a chain of 10 execs, less one run */
	for (int i = 0; i < reps; i++) {
		char *argv10[] = {(char *)self, "exec", "10", NULL};
		pid_t pid;
		start = now_us();
		posix_spawn(&pid, self, NULL, NULL, argv10, environ);
		waitpid(pid, NULL, 0);
		samples[i] = (now_us() - start) / 11;
	}
	report("exec_in_a_chain", samples, reps);

	/* what a configure script pays per program it runs: the shell's loop of 20 less its
	 * loop of 0, over 20 */
	for (int i = 0; i < reps; i++)
		samples[i] = (shell_loop("20") - shell_loop("0")) / 20;
	report("sh_runs_usr_bin_true", samples, reps);

	/* a round trip to the kernel's side: on macOS pthread_kill is one syscall, which
	 * Darling answers through darlingserver */
	for (int i = 0; i < reps; i++) {
		start = now_us();
		for (int k = 0; k < 100; k++)
			pthread_kill(pthread_self(), 0);
		samples[i] = (now_us() - start) / 100;
	}
	report("pthread_kill_self_0", samples, reps);

	/* from here on the process has had a thread, as nix-daemon has */
	pthread_t thread;
	pthread_create(&thread, NULL, returns, NULL);
	pthread_join(thread, NULL);
	report_closes("close_unused_fd_after_a_thread", samples, reps);
	for (int i = 0; i < reps && i < 5; i++)
		samples[i] = close_most_fds_in_child();
	report("close_most_fds_in_fork_child", samples, reps < 5 ? reps : 5);

	/* a Nix-sized parent: 50 MB touched */
	size_t size = 50u << 20;
	char *big = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
	memset(big, 1, size);
	report_small("fork_exec_wait_from_50mb_parent", "fork", samples, reps);
	report_small("posix_spawn_wait_from_50mb_parent", "posix_spawn", samples, reps);
	munmap(big, size);
	return 0;
}
