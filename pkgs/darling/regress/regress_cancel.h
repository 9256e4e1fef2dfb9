/* Cancels a thread that waits and bounds its join: shared by the cancellation regression
 * programs (pthread_cancel.c, cancel_waits.c). Include regress.h first. */
#ifndef DARLING_NIX_REGRESS_CANCEL_H
#define DARLING_NIX_REGRESS_CANCEL_H

#include <pthread.h>
#include <unistd.h>

static volatile int regress_joined;
static void *regress_join_result;

static void *regress_joins(void *thread)
{
	pthread_join(*(pthread_t *)thread, &regress_join_result);
	regress_joined = 1;
	return NULL;
}

/* cancels THREAD (after it has had time to block) and waits at most 5 s for its join;
 * true when it came and the thread ended PTHREAD_CANCELED */
REGRESS_UNUSED static int canceled_within_5s(pthread_t thread)
{
	pthread_t joiner;
	regress_joined = 0;
	regress_join_result = NULL;
	usleep(200 * 1000);
	if (pthread_cancel(thread) != 0 || pthread_create(&joiner, NULL, regress_joins, &thread) != 0)
		return 0;
	for (int i = 0; i < 50 && !regress_joined; i++)
		usleep(100 * 1000);
	if (!regress_joined)
		return 0;
	pthread_join(joiner, NULL);
	return regress_join_result == PTHREAD_CANCELED;
}

#endif
