/* __ulock_wait2 (syscall 544) and __ulock_wait's timeout:
 * patches/xnu/0004-ulock_wait2.patch
 * Programs built for macOS 11+ (Zig's std, so `zig cc`) wait with
 * __ulock_wait2; unpatched Darling answers ENOSYS and they spin forever.
 * Every wait runs in a thread that the main thread gives a few seconds:
 * a wait that never returns is a FAIL line, not a hung program. */
#include "regress.h"
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* <sys/ulock.h> is not in the SDK: the declarations and constants of xnu's */
extern int __ulock_wait(uint32_t operation, void *addr, uint64_t value, uint32_t timeout_us);
extern int __ulock_wait2(uint32_t operation, void *addr, uint64_t value, uint64_t timeout_ns,
	uint64_t value2);
extern int __ulock_wake(uint32_t operation, void *addr, uint64_t wake_value);
#define UL_COMPARE_AND_WAIT 1
#define ULF_WAKE_ALL 0x00000100
#define ULF_NO_ERRNO 0x01000000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct ulwait {
	volatile uint32_t *word;
	uint32_t expect;
	uint64_t timeout_ns;
	int old_call;       /* __ulock_wait with timeout_ns / 1000 us */
	uint32_t flags;
	volatile int done;
	int rc, err;
	double seconds;
};

static void *waiter(void *arg)
{
	struct ulwait *w = arg;
	double start = now();
	errno = 0;
	if (w->old_call)
		w->rc = __ulock_wait(UL_COMPARE_AND_WAIT | w->flags, (void *)w->word, w->expect,
			(uint32_t)(w->timeout_ns / 1000));
	else
		w->rc = __ulock_wait2(UL_COMPARE_AND_WAIT | w->flags, (void *)w->word, w->expect,
			w->timeout_ns, 0);
	w->err = errno;
	w->seconds = now() - start;
	w->done = 1;
	return NULL;
}

/* Starts a waiter on W; returns whether it could. */
static int start(struct ulwait *w, pthread_t *thread)
{
	w->done = 0;
	return pthread_create(thread, NULL, waiter, w) == 0;
}

/* Gives W up to LIMIT seconds to return; 1 if it did (then joined). */
static int finished(struct ulwait *w, pthread_t thread, double limit)
{
	double until = now() + limit;
	while (!w->done && now() < until)
		usleep(10 * 1000);
	if (!w->done)
		return 0;
	pthread_join(thread, NULL);
	return 1;
}

static void expect_timeout(const char *what, struct ulwait *w, double low, double limit)
{
	pthread_t thread;
	char line[200];
	int ok = start(w, &thread) && finished(w, thread, limit);
	int timed_out = w->flags & ULF_NO_ERRNO ? w->rc == -ETIMEDOUT
		: (w->rc == -1 && w->err == ETIMEDOUT);
	snprintf(line, sizeof(line), "%s: ETIMEDOUT after %.2f s (rc %d, expected %.2f-%.0f s)",
		what, ok ? w->seconds : limit, ok ? w->rc : 0, low, limit);
	regress_check(ok && timed_out && w->seconds >= low, line, ok ? w->err : ETIMEDOUT);
}

int main(void)
{
	static volatile uint32_t word = 0;
	struct ulwait w;
	pthread_t threads[3];
	struct ulwait waits[3];
	int i, ok, woken;

	/* a value that no longer matches: returns at once, no error */
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 7; w.timeout_ns = 5ULL * 1000 * 1000 * 1000;
	ok = start(&w, &threads[0]) && finished(&w, threads[0], 3);
	regress_check(ok && w.rc >= 0 && w.seconds < 1, "ulock_wait2: a stale value returns at once",
		ok ? w.err : ETIMEDOUT);

	/* a timeout that expires: 50 ms */
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 0; w.timeout_ns = 50ULL * 1000 * 1000;
	expect_timeout("ulock_wait2 50 ms", &w, 0.04, 3);

	/* the same with ULF_NO_ERRNO, as Zig's Futex calls it: -ETIMEDOUT comes back */
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 0; w.timeout_ns = 50ULL * 1000 * 1000; w.flags = ULF_NO_ERRNO;
	expect_timeout("ulock_wait2 50 ms, ULF_NO_ERRNO", &w, 0.04, 3);

	/* a 64-bit timeout: 2^32 ns + 50 ms (4.34 s); cut to 32 bits it would be 45 ms */
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 0; w.timeout_ns = (1ULL << 32) + 50ULL * 1000 * 1000;
	expect_timeout("ulock_wait2 2^32 ns + 50 ms", &w, 4.2, 8);

	/* ulock_wait's microsecond timeout: 100 ms (Darling waited 100000 s) */
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 0; w.timeout_ns = 100ULL * 1000 * 1000; w.old_call = 1;
	expect_timeout("ulock_wait 100000 us", &w, 0.09, 3);

	/* wait, then a wake from another thread before the 5 s timeout */
	word = 0;
	memset(&w, 0, sizeof(w));
	w.word = &word; w.expect = 0; w.timeout_ns = 5ULL * 1000 * 1000 * 1000;
	ok = start(&w, &threads[0]);
	usleep(200 * 1000);
	word = 1;
	__ulock_wake(UL_COMPARE_AND_WAIT, (void *)&word, 0);
	ok = ok && finished(&w, threads[0], 7);
	regress_check(ok && w.rc >= 0 && w.seconds < 4, "ulock_wait2: woken by ulock_wake",
		ok ? w.err : ETIMEDOUT);

	/* three waiters, one ULF_WAKE_ALL */
	word = 0;
	for (i = 0; i < 3; i++) {
		memset(&waits[i], 0, sizeof(waits[i]));
		waits[i].word = &word; waits[i].expect = 0;
		waits[i].timeout_ns = 5ULL * 1000 * 1000 * 1000;
		start(&waits[i], &threads[i]);
	}
	usleep(300 * 1000);
	word = 1;
	__ulock_wake(UL_COMPARE_AND_WAIT | ULF_WAKE_ALL, (void *)&word, 0);
	woken = 0;
	for (i = 0; i < 3; i++)
		if (finished(&waits[i], threads[i], 7) && waits[i].rc >= 0 && waits[i].seconds < 4)
			woken++;
	{
		char line[100];
		snprintf(line, sizeof(line), "ulock_wait2: ULF_WAKE_ALL woke %d of 3 waiters", woken);
		regress_check(woken == 3, line, woken == 3 ? 0 : ETIMEDOUT);
	}
	return regress_status();
}
