/* darlingserver's credentials, asked for once: patches/darling/0009-dserver-message-credentials.patch
 * darlingserver stamped every message it made with its pid, uid and gid, asking the kernel each
 * time (getpid, getuid, getgid), and made 32 messages for each call a program made to it: 96
 * system calls before it looked at the call. This program makes 2 * PORTS darlingserver calls
 * (it makes and destroys Mach ports). The check that matters is made on the host
 * (helpers/tests/real_darling/test_regress.py), which counts darlingserver's getpid, getuid and
 * getgid calls with strace meanwhile: next to none patched, thousands unpatched. Here: every
 * call succeeds. */
#include "regress.h"
#include <mach/mach.h>

#define PORTS 1000

int main(void)
{
	int made = 0;
	for (int i = 0; i < PORTS; i++) {
		mach_port_t port = MACH_PORT_NULL;
		if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port) == KERN_SUCCESS
				&& mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS)
			made++;
	}
	printf("(%d of %d ports made and destroyed)\n", made, PORTS);
	regress_check(made == PORTS, "Mach ports made and destroyed, a darlingserver call each", 0);
	return regress_status();
}
