/* libobjc as its release build: patches/darling/0006-objc4-release.patch
 * Darling built objc4 as its debug build (OBJC_IS_DEBUG_BUILD, no NDEBUG), whose
 * lock-order checking (LOCKDEBUG) took about a seventh of the CPU time of every process
 * start: libobjc is loaded into every program through libSystem. The debug build exports
 * _objc_isDebugBuild, as objc4's own tests look for. Checked: that symbol is gone, and
 * the runtime still works with its locks taken: a class made at run time, a method
 * added and sent, NSObject's +new and -release, from two threads at once. The runtime's
 * functions are looked up in the loaded library (the SDK has no libobjc to link). */
#include "regress.h"
#include <dlfcn.h>
#include <objc/objc.h>
#include <pthread.h>

#define ROUNDS 200

static Class (*get_class)(const char *);
static Class (*allocate_class_pair)(Class, const char *, size_t);
static void (*register_class_pair)(Class);
static BOOL (*class_add_method)(Class, SEL, IMP, const char *);
static SEL (*register_name)(const char *);
static void (*msg_send)(void);

static int look_up(void *libobjc)
{
	get_class = (Class (*)(const char *))dlsym(libobjc, "objc_getClass");
	allocate_class_pair = (Class (*)(Class, const char *, size_t))dlsym(libobjc,
		"objc_allocateClassPair");
	register_class_pair = (void (*)(Class))dlsym(libobjc, "objc_registerClassPair");
	class_add_method = (BOOL (*)(Class, SEL, IMP, const char *))dlsym(libobjc, "class_addMethod");
	register_name = (SEL (*)(const char *))dlsym(libobjc, "sel_registerName");
	msg_send = (void (*)(void))dlsym(libobjc, "objc_msgSend");
	return get_class && allocate_class_pair && register_class_pair && class_add_method
		&& register_name && msg_send;
}

static long answer(id self, SEL cmd)
{
	(void)self;
	(void)cmd;
	return 42;
}

static void *makes_objects(void *arg)
{
	Class cls = (Class)arg;
	SEL new_sel = register_name("new"), release = register_name("release");
	SEL answer_sel = register_name("answer");
	long sum = 0;
	for (int i = 0; i < ROUNDS; i++) {
		id object = ((id (*)(Class, SEL))msg_send)(cls, new_sel);
		sum += ((long (*)(id, SEL))msg_send)(object, answer_sel);
		((void (*)(id, SEL))msg_send)(object, release);
	}
	return (void *)sum;
}

int main(void)
{
	void *libobjc = dlopen("/usr/lib/libobjc.A.dylib", RTLD_NOW);
	regress_check(libobjc != NULL, "dlopen /usr/lib/libobjc.A.dylib", errno);
	if (!libobjc)
		return regress_status();
	regress_check(dlsym(libobjc, "_objc_isDebugBuild") == NULL,
		"libobjc is its release build (no _objc_isDebugBuild)", 0);

	Class base = look_up(libobjc) ? get_class("NSObject") : Nil;
	Class cls = base ? allocate_class_pair(base, "DarlingNixRegressAnswer", 0) : Nil;
	int added = cls && class_add_method(cls, register_name("answer"), (IMP)answer, "l@:");
	if (cls)
		register_class_pair(cls);
	regress_check(added && get_class("DarlingNixRegressAnswer") == cls,
		"a class made at run time, with a method, is registered", 0);

	pthread_t thread;
	void *theirs = NULL, *ours = NULL;
	int started = added && pthread_create(&thread, NULL, makes_objects, cls) == 0;
	if (started) {
		ours = makes_objects(cls);
		pthread_join(thread, &theirs);
	}
	regress_check(started && (long)ours == 42L * ROUNDS && (long)theirs == 42L * ROUNDS,
		"two threads create, message and release its objects", 0);
	return regress_status();
}
