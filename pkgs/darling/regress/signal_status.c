/* darling shell's exit status for a command killed by a signal:
 * patches/darling/0008-shellspawn-signal-status.patch
 * This program's check is made on the host, by whoever ran it through `darling shell`
 * (helpers/tests/real_darling/test_regress.py): it prints one line and kills itself with
 * SIGTERM, so darling shell must exit 143 (128 + 15), as sh and ssh report such a death.
 * Unpatched, shellspawn sent back WEXITSTATUS of the wait status: 0. */
#include "regress.h"
#include <signal.h>

int main(void)
{
	regress_check(1, "started; SIGTERM next", 0);
	kill(getpid(), SIGTERM);
	regress_check(0, "still running after SIGTERM to itself", 0);
	return regress_status();
}
