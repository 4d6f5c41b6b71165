/*
 * notify.h — the systemd service manager's readiness protocol (sd_notify),
 * spoken without libsystemd: one datagram to $NOTIFY_SOCKET per state
 * change. Nothing happens when agentd was not started by systemd.
 */
#ifndef AGENTD_NOTIFY_H
#define AGENTD_NOTIFY_H

/* Send "READY=1", "STOPPING=1", "STATUS=..." lines (newline-separated) to
 * the service manager. Silently does nothing without NOTIFY_SOCKET. */
void notify_send(const char *state);
/* "RELOADING=1" with the MONOTONIC_USEC that systemd asks to go with it. */
void notify_reloading(void);

#endif
