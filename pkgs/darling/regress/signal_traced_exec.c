/* A traced program's exec stops that program, not its process group:
 * patches/xnu/0005-signal-self.patch
 * A program whose parent traces it (ptrace(PT_TRACE_ME), as a debugger or a test harness
 * does) signals its tracer at exec the way macOS does, with SIGTRAP; Darling sent that
 * SIGTRAP with kill(0, ...), to the whole process group: the tracer, the shell that ran it
 * and every sibling died of SIGTRAP. Each child here stays in our process group. */
#include "regress.h"
#include <signal.h>
#include <sys/types.h> /* caddr_t, which sys/ptrace.h uses */
#include <sys/ptrace.h>
#include <sys/wait.h>

static pid_t sleeper(void)
{
	pid_t child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	return child;
}

int main(void)
{
	int status = 0, sibling_status = 0;
	pid_t sibling, traced;

	regress_check(1, "started", 0);
	sibling = sleeper();
	traced = fork();
	if (traced == 0) {
		ptrace(PT_TRACE_ME, 0, NULL, 0);
		execl("/usr/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (sibling < 0 || traced < 0) {
		regress_check(0, "fork", errno);
		return regress_status();
	}
	if (waitpid(traced, &status, WUNTRACED) != traced) {
		regress_check(0, "waitpid on the traced child", errno);
		return regress_status();
	}
	regress_check((WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) ||
		(WIFSIGNALED(status) && WTERMSIG(status) == SIGTRAP),
		"the traced child's exec stops or ends it by SIGTRAP", 0);
	if (WIFSTOPPED(status)) {
		kill(traced, SIGKILL);
		waitpid(traced, &status, 0);
	}
	regress_check(1, "the tracer (its process group) survives the traced child's exec", 0);
	regress_check(waitpid(sibling, &sibling_status, WNOHANG) == 0,
		"a sibling in the process group survives it too", errno);
	kill(sibling, SIGTERM);
	regress_check(waitpid(sibling, &sibling_status, 0) == sibling && WIFSIGNALED(sibling_status)
		&& WTERMSIG(sibling_status) == SIGTERM, "the sibling ends by our SIGTERM, not SIGTRAP", errno);
	return regress_status();
}
