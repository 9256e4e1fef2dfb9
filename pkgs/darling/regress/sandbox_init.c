/* sandbox_init*: patches/darling/0001-sandbox-errorbuf-null.patch
 * On success no error string is returned (*errorbuf stays NULL), and a NULL
 * errorbuf is accepted. Nix >= 2.25 calls sandbox_init_with_parameters in
 * every darwin build's child process. */
#include "regress.h"
#include <sandbox.h>
#include <stdint.h>

/* Not in the public header on every SDK. */
int sandbox_init_with_parameters(const char *profile, uint64_t flags,
	const char *const parameters[], char **errorbuf);

int main(void)
{
	int r;
	char *err;
	const char *params[] = { "_NIX_BUILD_TOP", "/tmp", NULL };
	/* Nix's sandbox-minimal.sb is similar: allow everything */
	const char *profile = "(version 1)\n(allow default)\n";

	err = (char *) 0x1;
	r = sandbox_init_with_parameters(profile, 0, params, &err);
	regress_check(r == 0, "sandbox_init_with_parameters returns 0", errno);
	regress_check(err == NULL, "sandbox_init_with_parameters leaves *errorbuf NULL on success", 0);

	r = sandbox_init_with_parameters(profile, 0, params, NULL);
	regress_check(r == 0, "sandbox_init_with_parameters accepts errorbuf == NULL", errno);

	err = (char *) 0x1;
	r = sandbox_init(kSBXProfileNoInternet, SANDBOX_NAMED, &err);
	regress_check(r == 0 && err == NULL, "sandbox_init: 0 and *errorbuf NULL", errno);

	r = sandbox_init(kSBXProfileNoInternet, SANDBOX_NAMED, NULL);
	regress_check(r == 0, "sandbox_init accepts errorbuf == NULL", errno);

	sandbox_free_error(NULL);
	regress_check(1, "sandbox_free_error(NULL) is harmless", 0);

	return regress_status();
}
