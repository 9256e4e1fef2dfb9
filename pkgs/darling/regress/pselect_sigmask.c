/* pselect(2) applies its signal mask for the wait: patches/xnu/0008-pselect-sigmask.patch
 * Darling handed Linux's pselect6 the mask's bits where the kernel wants a pointer to
 * them, so an empty mask became a NULL pointer (the mask left as it was) and any other
 * mask a bad address. GNU make -j waits for its children in pselect with SIGCHLD blocked
 * outside it: under Darling it never saw one end, and hung. */
#include "regress.h"
#include <signal.h>
#include <sys/select.h>
#include <sys/wait.h>

static volatile sig_atomic_t children_ended = 0;

static void on_sigchld(int sig)
{
	(void)sig;
	children_ended++;
}

int main(void)
{
	int fds[2];
	sigset_t blocked, empty, usr2, now;
	fd_set readable;
	struct timespec tenth = {0, 100 * 1000 * 1000}, two = {2, 0};
	struct sigaction action;
	pid_t child;
	int r;

	regress_check(pipe(fds) == 0, "started", errno);

	/* a mask with a signal in it, nothing to read: the wait times out */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	FD_ZERO(&readable);
	FD_SET(fds[0], &readable);
	errno = 0;
	r = pselect(fds[0] + 1, &readable, NULL, NULL, &tenth, &usr2);
	regress_check(r == 0, "pselect with a mask of SIGUSR2 times out (0)", errno);

	/* make's way: SIGCHLD blocked, a child ends, pselect with an empty mask must let the
	 * pending SIGCHLD in and return EINTR at once */
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_sigchld;
	sigemptyset(&action.sa_mask);
	sigaction(SIGCHLD, &action, NULL);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, NULL);
	child = fork();
	if (child == 0)
		_exit(0);
	usleep(200 * 1000); /* it has ended: its SIGCHLD is pending, blocked */
	sigemptyset(&empty);
	FD_ZERO(&readable);
	FD_SET(fds[0], &readable);
	errno = 0;
	r = pselect(fds[0] + 1, &readable, NULL, NULL, &two, &empty);
	regress_check(r == -1 && errno == EINTR && children_ended == 1,
		"pselect with an empty mask takes the pending SIGCHLD (EINTR, handler ran)", errno);

	sigprocmask(SIG_BLOCK, NULL, &now);
	regress_check(sigismember(&now, SIGCHLD), "after pselect SIGCHLD is blocked again", 0);
	waitpid(child, NULL, 0);
	return regress_status();
}
