/* CLOCK_MONOTONIC never goes back: patches/xnu/0007-boottime-stable.patch
 * macOS libc's CLOCK_MONOTONIC is gettimeofday() minus sysctl kern.boottime; Darling
 * computed kern.boottime from two clocks rounded to seconds on their own, so it flipped
 * by a second within every second and the monotonic clock jumped back by 1 s. */
#include "regress.h"
#include <sys/sysctl.h>
#include <sys/time.h>
#include <time.h>

#define SECONDS 2.2

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long boottime(void)
{
	struct timeval tv = { 0, 0 };
	size_t len = sizeof(tv);
	return sysctlbyname("kern.boottime", &tv, &len, NULL, 0) == 0 ? (long)tv.tv_sec : -1;
}

int main(void)
{
	double first = monotonic(), last = first, t, worst = 0;
	long boot = boottime(), other = boot;
	char line[160];
	int reads = 0;

	regress_check(1, "started", 0);
	regress_check(boot > 0, "sysctl kern.boottime answers", errno);
	/* a few reads per millisecond for over two seconds: both sides of every second */
	while ((t = monotonic()) - first < SECONDS) {
		if (t - last < worst)
			worst = t - last;
		last = t;
		if (++reads % 64 == 0) {
			long b = boottime();
			if (b != boot)
				other = b;
		}
		usleep(250);
	}
	snprintf(line, sizeof(line), "CLOCK_MONOTONIC never goes back over %.1f s (%d reads, "
		"worst step %.3f s)", SECONDS, reads, worst);
	regress_check(worst >= 0, line, 0);
	snprintf(line, sizeof(line), "kern.boottime is the same on every read (%ld, %ld)", boot,
		other);
	regress_check(other == boot, line, 0);
	return regress_status();
}
