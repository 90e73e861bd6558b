/* ksight-hot: a process whose profile is known in advance, for the stack
 * profiling tests (issue 15). Built with frame pointers and without inlining
 * so every function below is a frame of its own.
 *   ksight-hot cpu SECONDS        hot70() takes 70% of the CPU time, hot30() 30%
 *   ksight-hot syscalls SECONDS   getppid() in a loop: time in the kernel's syscall path
 *   ksight-hot offcpu N MS        sleeps N times MS milliseconds in sleepy_function()
 * The split is by thread CPU time, so it holds however busy the machine is.
 * Syscalls are made right here, not through libc's wrappers: those keep no
 * frame pointer, and a frame-pointer walk from inside them skips the
 * function that called them. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

/* Arithmetic between clock reads, so the clock's own cost (a syscall for a
 * thread clock) stays a small share of each function's samples. A macro, not
 * a function: the samples land in hot70 and hot30 themselves (their flat
 * time), not in a helper they share. */
#define SPIN_FOR(ns)                                                            \
	do {                                                                    \
		uint64_t end_ = thread_cpu_ns() + (ns), x_ = sink;              \
		do {                                                            \
			for (int i_ = 0; i_ < 50000; i_++)                      \
				x_ = x_ * 6364136223846793005ull +              \
				     1442695040888963407ull;                    \
			sink = x_;                                              \
		} while (thread_cpu_ns() < end_);                               \
	} while (0)

__attribute__((noinline)) void hot70(uint64_t ns)
{
	SPIN_FOR(ns);
}

__attribute__((noinline)) void hot30(uint64_t ns)
{
	SPIN_FOR(ns);
}

/* A macro, so the syscall instruction is in the function that uses it: a
 * sample in the kernel then unwinds to that function itself. */
#define RAW_SYSCALL2(nr, a, b)                                                   \
	({                                                                       \
		long ret_;                                                       \
		__asm__ volatile("syscall"                                       \
				 : "=a"(ret_)                                    \
				 : "a"((long)(nr)), "D"((long)(a)), "S"((long)(b))\
				 : "rcx", "r11", "memory");                      \
		ret_;                                                            \
	})

__attribute__((noinline)) void syscall_loop(uint64_t ns)
{
	uint64_t end = thread_cpu_ns() + ns;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 1000; i++)
			RAW_SYSCALL2(SYS_getppid, 0, 0);
}

__attribute__((noinline)) void sleepy_function(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (RAW_SYSCALL2(SYS_nanosleep, &ts, &ts) != 0)
		;
	sink++;
}

static int usage(void)
{
	fprintf(stderr, "usage: ksight-hot cpu SECONDS | syscalls SECONDS | offcpu N MS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "cpu") == 0) {
		uint64_t total = (uint64_t)(atof(argv[2]) * 1e9), done = 0;
		uint32_t r = (uint32_t)getpid();
		/* Cycles of 2 to 12 ms, 70% then 30%: many in a second, so a
		 * short profile sees the split, and of varying length, so a
		 * sampling clock of a similar period cannot alias with them. */
		while (done < total) {
			uint64_t cycle;

			r = r * 1103515245u + 12345u;
			cycle = 2000000ull + (r >> 8) % 10000000ull;
			hot70(cycle * 7 / 10);
			hot30(cycle * 3 / 10);
			done += cycle;
		}
	} else if (strcmp(argv[1], "syscalls") == 0) {
		syscall_loop((uint64_t)(atof(argv[2]) * 1e9));
	} else if (strcmp(argv[1], "offcpu") == 0 && argc >= 4) {
		long n = atol(argv[2]), ms = atol(argv[3]);
		for (long i = 0; i < n; i++)
			sleepy_function(ms);
	} else {
		return usage();
	}
	return 0;
}
