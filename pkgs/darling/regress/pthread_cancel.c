/* pthread_cancel wakes a thread waiting in a cancelable syscall, which then ends with
 * PTHREAD_CANCELED: patches/xnu/0010-pthread-cancel.patch. darlingserver answered the
 * mark (__pthread_markcancel) and the question (__pthread_canceled) with ENOSYS, so a
 * canceled thread that waited in poll() waited on, and pthread_join after the cancel never
 * returned: Nix's MonitorFdHup (nix-store --serve) polls its stdin for POLLHUP in a thread
 * it cancels and joins after each build, so legacy ssh:// builds hung inside Darling.
 * Each wait here has a bound: a join that does not come within 5 s is a FAIL line. */
#include "regress.h"
#include "regress_cancel.h"
#include <poll.h>
#include <pthread.h>

static int fds[2];
static volatile int disabled_thread_survived;

static void *polls(void *events)
{
	struct pollfd p = {fds[0], (short)(long)events, 0};
	poll(&p, 1, -1);
	return NULL;
}

static void *reads(void *arg)
{
	char byte;
	(void)arg;
	read(fds[0], &byte, 1);
	return NULL;
}

static void *polls_with_cancel_disabled(void *arg)
{
	struct pollfd p = {fds[0], POLLIN, 0};
	(void)arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	usleep(100 * 1000); /* canceled by now */
	if (poll(&p, 1, 300) == 0)
		disabled_thread_survived = 1;
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_testcancel();
	return NULL;
}

int main(void)
{
	pthread_t thread, bystander;
	struct pollfd p;
	void *result = NULL;

	regress_check(pipe(fds) == 0, "a pipe with nothing in it", errno);

	regress_check(pthread_create(&thread, NULL, polls, (void *)(long)POLLIN) == 0
		&& canceled_within_5s(thread), "a thread waiting in poll(POLLIN) is canceled", errno);
	/* Nix's MonitorFdHup: events = POLLHUP only */
	regress_check(pthread_create(&thread, NULL, polls, (void *)(long)POLLHUP) == 0
		&& canceled_within_5s(thread), "a thread waiting in poll(POLLHUP) is canceled", errno);
	regress_check(pthread_create(&thread, NULL, reads, NULL) == 0 && canceled_within_5s(thread),
		"a thread waiting in read() is canceled", errno);

	/* a thread that disabled cancellation is not canceled in its poll, but at its next
	 * cancellation point once it enables it again */
	regress_check(pthread_create(&thread, NULL, polls_with_cancel_disabled, NULL) == 0
		&& canceled_within_5s(thread) && disabled_thread_survived,
		"a thread with cancellation disabled finishes its poll, then is canceled", errno);

	/* another thread's wait is not cut short by a cancel that is not for it */
	regress_check(pthread_create(&bystander, NULL, polls, (void *)(long)POLLIN) == 0
		&& pthread_create(&thread, NULL, polls, (void *)(long)POLLIN) == 0
		&& canceled_within_5s(thread), "one of two waiting threads is canceled", errno);
	p.fd = fds[0];
	p.events = POLLIN;
	p.revents = 0;
	regress_check(poll(&p, 1, 300) == 0, "the main thread's poll times out as before", errno);
	regress_check(write(fds[1], "x", 1) == 1 && pthread_join(bystander, &result) == 0
		&& result == NULL, "the other thread returns from its poll when data comes", errno);

	return regress_status();
}
