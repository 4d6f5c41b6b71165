/*
 * ctl.h — agentctl's sub-commands that live in their own files.
 * Each takes the arguments after the sub-command name and returns the
 * process exit status.
 */
#ifndef AGENTD_CTL_H
#define AGENTD_CTL_H

/* agentctl sandbox [--explain] --workspace DIR [--policy P] [--network] … -- CMD... */
int ctl_sandbox_main(int argc, char **argv);

/* Connect to agentd's socket: the fd, or -1 with errno. */
int ctl_connect(const char *path);

/* agentctl acp: the Agent Client Protocol on stdin/stdout, relayed to the
 * agentd on sock_path. */
int ctl_acp_main(int argc, char **argv, const char *sock_path);

#endif
