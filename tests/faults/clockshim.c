/* A wall-clock offset for a server process, read from a file on every call (LD_PRELOAD).
 *
 * libfaketime cannot start Debian's redis-server: its initialisation calls dlsym, which
 * allocates through jemalloc, which reads the clock again. This shim has no initialisation and
 * allocates nothing: each call asks the kernel directly and adds the offset (whole seconds, as
 * "+300" or "-20") found in the file named by STREAMQ_CLOCK_OFFSET_FILE. The monotonic clock is
 * left alone, as an NTP step leaves it. Used by the fault suite's T17b only. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long offset_s(void) {
    const char *path = getenv("STREAMQ_CLOCK_OFFSET_FILE");
    if (!path) return 0;
    int fd = (int)syscall(SYS_open, path, O_RDONLY);
    if (fd < 0) return 0;
    char buf[32];
    long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    long sign = 1, value = 0;
    const char *p = buf;
    if (*p == '+') p++;
    else if (*p == '-') { sign = -1; p++; }
    while (*p >= '0' && *p <= '9') value = value * 10 + (*p++ - '0');
    return sign * value;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    long rc = syscall(SYS_clock_gettime, clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset_s();
    return (int)rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    long rc = syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    if (rc != 0) return (int)rc;
    if (tv) {
        tv->tv_sec = ts.tv_sec + offset_s();
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec + offset_s();
    if (out) *out = now;
    return now;
}
