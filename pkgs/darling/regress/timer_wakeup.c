/* Short timed waits in darlingserver, woken by their timer or by their event:
 * patches/darling/0010-dserver-wait-wakeup.patch. A wait woken early kept its timer, which
 * later woke the thread a second time, in whatever it waited for next (darlingserver then
 * ran a wait's continuation with THREAD_WAITING and aborted: panic "semaphore_block"), and a
 * wakeup that came before the waiter was suspended was lost.
 * The first check shows the kept timer every time: a thread's 200 ms timed wait is ended by
 * a signal after 30 ms, then the thread waits on a second semaphore with no timeout, which
 * main signals only after 400 ms more; the old timer, due at 200 ms, ended that wait early
 * (timed out) on the unfixed build (the 8000 rounds below passed there in one CI run).
 * The rest is a stress: in each round two threads usleep 0.1-0.5 ms and two wait on a
 * semaphore for 0.2-0.6 ms that a third signals after 0-0.4 ms (before or after the
 * timeout); between rounds they wait on a condition variable. Main starts each round with a
 * futex (__ulock_wake) and waits with poll(), both Linux's, not darlingserver's, so it can
 * tell: a round whose waits are not all over after 3 s is a FAIL line. Without the fix
 * darlingserver often dies within a few thousand rounds, and the program with it
 * (ECONNREFUSED, -111, then SIGABRT). */
#include "regress.h"
#include <mach/mach.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* <sys/ulock.h> is not in the SDK: the declarations and constants of xnu's */
extern int __ulock_wait(uint32_t operation, void *addr, uint64_t value, uint32_t timeout_us);
extern int __ulock_wake(uint32_t operation, void *addr, uint64_t wake_value);
#define UL_COMPARE_AND_WAIT 1
#define ULF_WAKE_ALL 0x00000100

#define SLEEPERS 2
#define WAITERS 2
#define THREADS (SLEEPERS + WAITERS)
#define ROUNDS 8000

#define EARLY_ROUNDS 3

/* the first check's thread: a timed wait that main's signal ends, then a wait with none */
static semaphore_t early_sem, next_sem;
static volatile int early_in_wait, next_signalled, next_early, early_done;
static volatile kern_return_t next_kr;

static void *early_waiter(void *arg)
{
	mach_timespec_t timeout = {0, 200 * 1000 * 1000};
	(void)arg;
	early_in_wait = 1;
	semaphore_timedwait(early_sem, timeout); /* signalled or (on a very slow machine) not */
	next_kr = semaphore_wait(next_sem);
	next_early = !next_signalled;
	early_done = 1;
	return NULL;
}

/* one round of the first check: the second wait ends by its own signal (a thread whose waits
 * are not over 3 s after that signal is a FAIL too: with a lost wakeup it may never end) */
static int next_wait_keeps_to_its_signal(void)
{
	pthread_t thread;
	int waited;
	early_in_wait = next_signalled = next_early = early_done = 0;
	next_kr = KERN_FAILURE;
	pthread_create(&thread, NULL, early_waiter, NULL);
	while (!early_in_wait)
		poll(NULL, 0, 1);
	poll(NULL, 0, 30); /* the thread is in its timed wait by now */
	semaphore_signal(early_sem);
	poll(NULL, 0, 400); /* a timer left behind fires in here */
	next_signalled = 1;
	semaphore_signal(next_sem);
	for (waited = 0; !early_done; waited++) {
		if (waited == 3000) {
			printf("the waits of the thread were not over 3 s after their signals\n");
			return 0;
		}
		poll(NULL, 0, 1);
	}
	pthread_join(thread, NULL);
	if (next_kr != KERN_SUCCESS || next_early)
		printf("the wait with no timeout returned %#x %s its signal\n", next_kr,
		       next_early ? "before" : "after");
	return next_kr == KERN_SUCCESS && !next_early;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start = PTHREAD_COND_INITIALIZER;
static volatile uint32_t round_no; /* main's futex word */
static volatile int cond_round, done_count, bad_result;
static volatile int in_wait; /* waits begun, in all rounds */
static semaphore_t sems[WAITERS];

static unsigned pseudo(long id, int r)
{
	return (unsigned)((id * 7919 + r * 104729) % 400);
}

static void timed_wait(long id, int r)
{
	semaphore_t s = sems[id - SLEEPERS];
	mach_timespec_t none = {0, 0}, timeout = {0, (200 + pseudo(id, r)) * 1000};
	kern_return_t kr;
	while (semaphore_timedwait(s, none) == KERN_SUCCESS)
		; /* a signal that came after last round's timeout */
	__sync_fetch_and_add(&in_wait, 1);
	kr = semaphore_timedwait(s, timeout);
	if (kr != KERN_SUCCESS && kr != KERN_OPERATION_TIMED_OUT)
		bad_result = kr;
}

static void *worker(void *arg)
{
	long id = (long)arg;
	int seen = 0;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (cond_round == seen)
			pthread_cond_wait(&start, &lock);
		seen = cond_round;
		pthread_mutex_unlock(&lock);
		if (seen > ROUNDS)
			return NULL;
		if (id < SLEEPERS)
			usleep(100 + pseudo(id, seen));
		else
			timed_wait(id, seen);
		__sync_fetch_and_add(&done_count, 1);
	}
}

static void spin_us(unsigned us)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < (long)us);
}

/* starts each round main asks for, then signals the waiters' semaphores */
static void *starter(void *arg)
{
	uint32_t seen = 0;
	int i;
	(void)arg;
	for (;;) {
		while (round_no == seen)
			__ulock_wait(UL_COMPARE_AND_WAIT, (void *)&round_no, seen, 0);
		seen = round_no;
		pthread_mutex_lock(&lock);
		cond_round = (int)seen;
		pthread_cond_broadcast(&start);
		pthread_mutex_unlock(&lock);
		if (seen > ROUNDS)
			return NULL;
		while (in_wait < WAITERS * (int)seen) /* this round's waiters wait */
			poll(NULL, 0, 0);
		spin_us(pseudo(3, (int)seen));
		for (i = 0; i < WAITERS; i++)
			semaphore_signal(sems[i]);
	}
}

static void start_round(int r)
{
	round_no = (uint32_t)r;
	__ulock_wake(UL_COMPARE_AND_WAIT | ULF_WAKE_ALL, (void *)&round_no, 0);
}

/* the round's waits all end within 3 s (main polls 1 ms at a time) */
static int round_ends(int r)
{
	int waited;
	done_count = 0;
	start_round(r);
	for (waited = 0; done_count < THREADS; waited++) {
		if (waited == 3000) {
			printf("round %d: %d of %d waits not over after 3 s\n", r,
			       THREADS - done_count, THREADS);
			return 0;
		}
		poll(NULL, 0, 1);
	}
	return 1;
}

int main(void)
{
	pthread_t threads[THREADS + 1];
	long i;
	int r, kept = 1, ok = 1;
	semaphore_create(mach_task_self(), &early_sem, SYNC_POLICY_FIFO, 0);
	semaphore_create(mach_task_self(), &next_sem, SYNC_POLICY_FIFO, 0);
	for (r = 0; r < EARLY_ROUNDS && kept; r++)
		kept = next_wait_keeps_to_its_signal();
	regress_check(kept, "a wait after a timed wait that its signal ended is not ended by "
		      "that wait's timer", 0);
	if (!kept)
		_exit(regress_status()); /* its thread may still wait */
	for (i = 0; i < WAITERS; i++)
		semaphore_create(mach_task_self(), &sems[i], SYNC_POLICY_FIFO, 0);
	for (i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, worker, (void *)i);
	pthread_create(&threads[THREADS], NULL, starter, NULL);
	for (r = 1; r <= ROUNDS && ok; r++)
		ok = round_ends(r);
	regress_check(ok, "8000 rounds of 4 concurrent timed waits of < 1 ms all end within 3 s", 0);
	if (!ok)
		_exit(regress_status()); /* a thread still waits */
	regress_check(bad_result == 0,
		      "semaphore_timedwait returns success or timed out, nothing else", 0);
	start_round(ROUNDS + 1);
	for (i = 0; i <= THREADS; i++)
		pthread_join(threads[i], NULL);
	return regress_status();
}
