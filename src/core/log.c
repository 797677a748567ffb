/* log.c - one line per message: time, level, text. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int fr_log_level = FR_LOG_INFO;

void fr_log(int level, const char *fmt, ...)
{
    static const char *const lv[] = {"debug", "info", "warn", "error"};
    if (level < fr_log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            lv[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}
