/* os_unfair_lock_lock/unlock are libsystem_platform's, and they exclude:
 * patches/xnu/0009-unfair-lock-shadow.patch
 * Unpatched, libsystem_kernel exports no-op twins of both, and libSystem re-exports
 * it first: a program bound to them (zig, by name through libSystem) locks nothing.
 * The functions found by name in libSystem here are the ones such a program gets (a
 * program linked by ld64 is spared: it binds these two weakly, to libsystem_platform). */
#include "regress.h"
#include <dlfcn.h>
#include <os/lock.h>
#include <pthread.h>
#include <stdint.h>

#define THREADS 4
#define ROUNDS 200000

typedef void (*lock_fn)(os_unfair_lock_t);
static lock_fn by_name_lock, by_name_unlock;
static os_unfair_lock counted_lock = OS_UNFAIR_LOCK_INIT;
static volatile long counter;

static void *count(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		by_name_lock(&counted_lock);
		long seen = counter;
		for (volatile int spin = 0; spin < 3; spin++)
			;
		counter = seen + 1;
		by_name_unlock(&counted_lock);
	}
	return NULL;
}

static void check_library(const char *symbol, void *address)
{
	Dl_info info;
	char what[200];
	const char *library = address && dladdr(address, &info) ? info.dli_fname : "(none)";
	snprintf(what, sizeof(what), "libSystem's %s is libsystem_platform's (%s)", symbol,
		library);
	regress_check(strstr(library, "/libsystem_platform.dylib") != NULL, what, 0);
}

static uint32_t word(os_unfair_lock *lock)
{
	return *(volatile uint32_t *)lock;
}

int main(void)
{
	void *libsystem = dlopen("/usr/lib/libSystem.B.dylib", RTLD_NOLOAD);
	regress_check(libsystem != NULL, "libSystem is loaded", errno);
	if (!libsystem)
		return regress_status();
	by_name_lock = (lock_fn)dlsym(libsystem, "os_unfair_lock_lock");
	by_name_unlock = (lock_fn)dlsym(libsystem, "os_unfair_lock_unlock");
	check_library("os_unfair_lock_lock", (void *)by_name_lock);
	check_library("os_unfair_lock_unlock", (void *)by_name_unlock);
	if (!by_name_lock || !by_name_unlock)
		return regress_status();

	os_unfair_lock lock = OS_UNFAIR_LOCK_INIT;
	os_unfair_lock_lock(&lock);
	regress_check(word(&lock) != 0, "os_unfair_lock_lock marks the lock held", 0);
	os_unfair_lock_unlock(&lock);
	regress_check(word(&lock) == 0, "os_unfair_lock_unlock leaves it free", 0);

	os_unfair_lock named = OS_UNFAIR_LOCK_INIT;
	by_name_lock(&named);
	regress_check(word(&named) != 0 && !os_unfair_lock_trylock(&named),
		"libSystem's lock holds it: trylock fails", 0);
	by_name_unlock(&named);
	regress_check(word(&named) == 0 && os_unfair_lock_trylock(&named),
		"libSystem's unlock frees it: trylock succeeds", 0);

	pthread_t threads[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, count, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	char what[200];
	snprintf(what, sizeof(what), "%d threads counting under libSystem's lock lose nothing (%ld of %d)",
		THREADS, counter, THREADS * ROUNDS);
	regress_check(counter == THREADS * ROUNDS, what, 0);
	return regress_status();
}
