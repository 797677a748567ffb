/*
 * log.h - process logging to stderr.  Only top layers (engine, serve,
 * main) log; lower layers return codes and detail.
 */
#ifndef FR_CORE_LOG_H
#define FR_CORE_LOG_H

enum { FR_LOG_DEBUG, FR_LOG_INFO, FR_LOG_WARN, FR_LOG_ERROR };

/* Messages below this level are dropped.  Set once at start-up. */
extern int fr_log_level;

void fr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fr_info(...) fr_log(FR_LOG_INFO, __VA_ARGS__)
#define fr_warn(...) fr_log(FR_LOG_WARN, __VA_ARGS__)
#define fr_error(...) fr_log(FR_LOG_ERROR, __VA_ARGS__)
#define fr_debug(...) fr_log(FR_LOG_DEBUG, __VA_ARGS__)

#endif
