/*
 * log.h — agentd's logging to stderr (systemd-friendly: one line per
 * record, "<level>: message", with the sd-daemon priority prefix "<N>"
 * when stderr is the journal).
 */
#ifndef AGENTD_LOG_H
#define AGENTD_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Parse "error|warn|info|debug"; -1 when unknown. */
int log_parse_level(const char *s);
void log_set_level(int level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
