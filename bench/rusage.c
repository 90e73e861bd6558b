/* ksight_rusage OUT_FILE CMD [ARGS...]: runs CMD as a child of this small
 * process and, when it ends, writes "utime stime maxrss_kib status" of the
 * child to OUT_FILE. Why not wait4() from the Python harness itself: Linux
 * keeps a process's peak RSS across fork and execve (the forked mm starts with
 * the parent's high-water mark, and exec records the old mm's), so a tool
 * started by a 50 MiB Python reports at least 50 MiB. Started from here, the
 * floor is this process's few hundred KiB. SIGINT and SIGTERM are passed on
 * to the child, so the harness stops the tool as before. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status = 0;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: ksight_rusage OUT_FILE CMD [ARGS...]\n");
		return 2;
	}
	signal(SIGINT, forward);
	signal(SIGTERM, forward);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	while (wait4(child, &status, 0, &ru) < 0)
		;
	out = fopen(argv[1], "w");
	if (!out)
		return 1;
	fprintf(out, "%ld.%06ld %ld.%06ld %ld %d\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
		(long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss, status);
	fclose(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
