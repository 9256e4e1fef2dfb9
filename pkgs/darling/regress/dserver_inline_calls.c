/* darlingserver runs a call on its event loop's thread when its worker is idle:
 * patches/darling/0013-dserver-inline-calls.patch. It handed every call to its worker thread
 * (a wakeup) and sent the reply through an eventfd that woke its loop again: 2.5 voluntary
 * context switches of darlingserver's for each call, a round trip of 43 us where two Linux
 * processes ping-pong in 10. This program makes CALLS darlingserver calls
 * (pthread_kill(self, 0): Darling asks darlingserver for the thread's port). The check that
 * matters is made on the host (helpers/tests/real_darling/test_regress.py), which counts
 * darlingserver's voluntary context switches meanwhile: about 1 a call patched, 2.5 without
 * the patch. Here: every call succeeds. */
#include "regress.h"
#include <pthread.h>
#include <signal.h>

#define CALLS 20000

int main(void)
{
	int answered = 0;
	for (int i = 0; i < CALLS; i++)
		if (pthread_kill(pthread_self(), 0) == 0)
			answered++;
	printf("(%d of %d calls answered)\n", answered, CALLS);
	regress_check(answered == CALLS, "pthread_kill(self, 0), a darlingserver call each, succeeds", 0);
	return regress_status();
}
