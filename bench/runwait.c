/*
 * runwait: run one command and report its wall time, CPU and peak RSS.
 *
 *   runwait OUT ERR PROG [ARG...]
 *
 * Runs PROG with stdin from /dev/null, stdout to the file OUT and stderr to
 * the file ERR (either may be /dev/null), waits for it with wait4() and
 * prints one line on its own stdout:
 *
 *   wall_ns=N utime_us=N stime_us=N maxrss_kb=N status=N
 *
 * status is the exit code, or 128+signal. Exit status of runwait itself is
 * 0 when it could run PROG at all.
 *
 * Why a separate tiny program: on Linux, ru_maxrss of a child includes the
 * memory of the process it was forked from (exec records the old address
 * space's high-water mark, and a fork copies the parent's resident pages
 * into the child's count). Spawned straight from a Python harness
 * (10-20 MB resident), every child would report at least that much. Built
 * statically against musl, runwait is a few dozen KiB resident, so the
 * figures it reports are the child's own. bench/run checks this with
 * /bin/true.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: runwait OUT ERR PROG [ARG...]\n");
        return 2;
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0 || err < 0) {
        perror("runwait: open");
        return 2;
    }
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("runwait: fork");
        return 2;
    }
    if (pid == 0) {
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execvp(argv[3], argv + 3);
        dprintf(2, "runwait: cannot run %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("runwait: wait4");
            return 2;
        }
    }
    long long wall = now_ns() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    printf("wall_ns=%lld utime_us=%lld stime_us=%lld maxrss_kb=%ld status=%d\n", wall,
           (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
           (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss,
           code);
    return 0;
}
