/* pthread_cancel ends a thread waiting in a darlingserver wait (sleep, a condition
 * variable), as on macOS: patches/xnu/0015-markcancel-abort-wait.patch with
 * patches/darling/0011-dserver-thread-abort-safely.patch. Such a wait is a call to
 * darlingserver, not a Linux syscall, so the real-time signal of xnu/0010 did not end it;
 * duct-tape's thread_abort_safely, which XNU's __pthread_markcancel calls, was a stub.
 * Nix 2.26's MonitorFdHup sleeps a second after each read event on macOS, and its
 * destructor cancels and joins it: every build on a 2.26 builder ended a second late.
 * Each wait here has a bound: a join that does not come within 5 s is a FAIL line. */
#include "regress.h"
#include "regress_cancel.h"
#include <pthread.h>
#include <time.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static volatile double disabled_slept = -1;
static volatile double bystander_slept = -1;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *sleeps(void *arg)
{
	(void)arg;
	for (;;)
		sleep(30);
	return NULL;
}

static void *nanosleeps(void *arg)
{
	struct timespec t = {30, 0};
	(void)arg;
	for (;;)
		nanosleep(&t, NULL);
	return NULL;
}

static void unlock(void *arg)
{
	pthread_mutex_unlock(arg);
}

static void *waits_on_a_condition(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mutex);
	pthread_cleanup_push(unlock, &mutex);
	for (;;)
		pthread_cond_wait(&never, &mutex);
	pthread_cleanup_pop(1);
	return NULL;
}

static void *sleeps_with_cancel_disabled(void *arg)
{
	double start;
	(void)arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	start = now();
	usleep(600 * 1000); /* canceled 200 ms in */
	disabled_slept = now() - start;
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_testcancel();
	return NULL;
}

static void *sleeps_a_second(void *arg)
{
	double start = now();
	(void)arg;
	usleep(1000 * 1000);
	bystander_slept = now() - start;
	return NULL;
}

int main(void)
{
	pthread_t thread, bystander;

	regress_check(pthread_create(&thread, NULL, sleeps, NULL) == 0
		&& canceled_within_5s(thread), "a thread in sleep() is canceled", errno);
	regress_check(pthread_create(&thread, NULL, nanosleeps, NULL) == 0
		&& canceled_within_5s(thread), "a thread in nanosleep() is canceled", errno);
	regress_check(pthread_create(&thread, NULL, waits_on_a_condition, NULL) == 0
		&& canceled_within_5s(thread) && pthread_mutex_trylock(&mutex) == 0
		&& pthread_mutex_unlock(&mutex) == 0,
		"a thread in pthread_cond_wait() is canceled, its cleanup handler run", errno);

	/* a thread that disabled cancellation sleeps on, then is canceled once it enables it */
	regress_check(pthread_create(&thread, NULL, sleeps_with_cancel_disabled, NULL) == 0
		&& canceled_within_5s(thread) && disabled_slept >= 0.55,
		"a thread with cancellation disabled sleeps its whole time, then is canceled", errno);

	/* another thread's sleep is not cut short by a cancel that is not for it */
	regress_check(pthread_create(&bystander, NULL, sleeps_a_second, NULL) == 0
		&& pthread_create(&thread, NULL, sleeps, NULL) == 0
		&& canceled_within_5s(thread) && pthread_join(bystander, NULL) == 0
		&& bystander_slept >= 0.95,
		"one of two sleeping threads is canceled, the other sleeps its whole time", errno);

	return regress_status();
}
