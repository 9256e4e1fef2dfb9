/* The CPU number without a system call: patches/xnu/0011-cpu-number-lsl.patch
 * libmalloc picks its magazine by the CPU the thread runs on, on every allocation and
 * free, through _os_cpu_number (libsyscall's os/tsd.h). Darling answered it with a
 * getcpu system call each time: about 13 000 of them in the start of /usr/bin/true.
 * Patched, it reads what Linux's vDSO reads (the limit of GDT entry 15, with LSL).
 * Checked: the answer is the CPU the thread is pinned to (raw Linux sched_setaffinity:
 * Darling's programs run on Linux's kernel), and a child whose getcpu system calls are
 * forbidden (seccomp, SECCOMP_RET_KILL_PROCESS) allocates, frees and asks for its CPU
 * number from two threads and lives; unpatched it dies of SIGSYS at its first malloc. */
#include "regress.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>

#define LINUX_NR_PRCTL 157
#define LINUX_NR_SCHED_SETAFFINITY 203
#define LINUX_NR_SCHED_GETAFFINITY 204
#define LINUX_NR_GETCPU 309
#define LINUX_NR_SECCOMP 317
#define LINUX_PR_SET_NO_NEW_PRIVS 38
#define LINUX_SECCOMP_SET_MODE_FILTER 1
#define AUDIT_ARCH_X86_64 0xc000003eU
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define MASK_WORDS 16 /* 1024 CPUs */

struct bpf_insn { uint16_t code; uint8_t jt, jf; uint32_t k; };
struct bpf_prog { unsigned short len; const struct bpf_insn *insns; };

static size_t cpu_number(void)
{
	size_t cpu = (size_t)-1;
	pthread_cpu_number_np(&cpu);
	return cpu;
}

/* Pinned to each CPU the process may use in turn: the answer is that CPU. */
static void answers_the_pinned_cpu(void)
{
	uint64_t allowed[MASK_WORDS] = {0}, one[MASK_WORDS];
	long got = regress_linux_syscall(LINUX_NR_SCHED_GETAFFINITY, 0, sizeof(allowed), (long)allowed);
	int cpus = 0, right = 0;
	for (int cpu = 0; got > 0 && cpu < MASK_WORDS * 64; cpu++) {
		if (!(allowed[cpu / 64] >> (cpu % 64) & 1))
			continue;
		memset(one, 0, sizeof(one));
		one[cpu / 64] = 1ULL << (cpu % 64);
		if (regress_linux_syscall(LINUX_NR_SCHED_SETAFFINITY, 0, sizeof(one), (long)one) != 0)
			continue;
		cpus++;
		size_t answer = cpu_number();
		if (answer == (size_t)cpu)
			right++;
		else
			printf("(pinned to CPU %d, the answer was %zu)\n", cpu, answer);
	}
	regress_linux_syscall(LINUX_NR_SCHED_SETAFFINITY, 0, sizeof(allowed), (long)allowed);
	printf("(%d of %d CPUs answered right)\n", right, cpus);
	regress_check(cpus > 0 && right == cpus, "pthread_cpu_number_np names the CPU the thread is pinned to", 0);
}

static void *allocates(void *arg)
{
	for (int i = 0; i < 2000; i++)
		free(malloc(16 + (size_t)(i % 64) * 16));
	cpu_number();
	return arg;
}

/* In the child: getcpu is forbidden from here on. */
static int child(void)
{
	static const struct bpf_insn filter[] = {
		{0x20, 0, 0, 4},                        /* ld [arch] */
		{0x15, 0, 3, AUDIT_ARCH_X86_64},        /* jeq x86_64, else allow */
		{0x20, 0, 0, 0},                        /* ld [nr] */
		{0x15, 0, 1, LINUX_NR_GETCPU},          /* jeq getcpu */
		{0x06, 0, 0, SECCOMP_RET_KILL_PROCESS},
		{0x06, 0, 0, SECCOMP_RET_ALLOW},
	};
	static const struct bpf_prog prog = {sizeof(filter) / sizeof(filter[0]), filter};
	if (regress_linux_syscall(LINUX_NR_PRCTL, LINUX_PR_SET_NO_NEW_PRIVS, 1, 0) != 0
			|| regress_linux_syscall(LINUX_NR_SECCOMP, LINUX_SECCOMP_SET_MODE_FILTER, 0, (long)&prog) != 0)
		_exit(3);
	pthread_t thread;
	if (pthread_create(&thread, NULL, allocates, NULL) != 0)
		_exit(4);
	allocates(NULL);
	pthread_join(thread, NULL);
	_exit(0);
}

int main(void)
{
	answers_the_pinned_cpu();
	pid_t pid = fork();
	if (pid == 0)
		child();
	int status = 0;
	pid_t waited = waitpid(pid, &status, 0);
	if (waited == pid && WIFSIGNALED(status))
		printf("(the child died of signal %d)\n", WTERMSIG(status));
	else if (waited == pid && WEXITSTATUS(status) != 0)
		printf("(the child exited %d: 3 = no seccomp filter, 4 = no thread)\n", WEXITSTATUS(status));
	regress_check(waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"two threads allocate and ask for their CPU number without a getcpu system call", errno);
	return regress_status();
}
