/* A child's fatal signal ends the child, not its process group:
 * patches/xnu/0005-signal-self.patch
 * Darling emulates a signal's default action by sending it again with kill(0, sig): to
 * the whole process group, so a crashing program took the shell that ran it (and
 * every other process of the group) down too. Each child here stays in this
 * process's group, as a program a shell runs does. */
#include "regress.h"
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

/* libsystem_kernel's; what dyld calls when a library cannot be loaded */
extern void abort_with_payload(uint32_t reason_namespace, uint64_t reason_code, void *payload,
	uint32_t payload_size, const char *reason_string, uint64_t reason_flags)
	__attribute__((noreturn));

static void segfault(void)
{
	*(volatile int *)(uintptr_t)8 = 1;
}

static void abort_payload(void)
{
	abort_with_payload(0, 0, NULL, 0, "signal_self regress", 0);
}

static void wait_for_a_signal(void)
{
	for (;;)
		pause();
}

/* The signal that ended a child running DIE (sent SIG by us unless 0), 0 if none. */
static int child_signal(void (*die)(void), int sig)
{
	int status = 0;
	pid_t child = fork();
	if (child == 0) {
		die();
		_exit(0);
	}
	if (child < 0)
		return -1;
	if (sig) {
		usleep(200 * 1000);
		kill(child, sig);
	}
	if (waitpid(child, &status, 0) != child)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

int main(void)
{
	int sig;
	regress_check(1, "started", 0);
	sig = child_signal(segfault, 0);
	regress_check(sig == SIGSEGV, "a child's SIGSEGV ends the child (by SIGSEGV), not us", 0);
	sig = child_signal(abort_payload, 0);
	regress_check(sig == SIGABRT, "a child's abort_with_payload ends the child (by SIGABRT), not us", 0);
	sig = child_signal(wait_for_a_signal, SIGTERM);
	regress_check(sig == SIGTERM, "a child sent SIGTERM ends (by SIGTERM), not us", 0);
	return regress_status();
}
