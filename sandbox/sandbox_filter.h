/*
 * sandbox_filter.h — the seccomp programs of the sandbox, built once per
 * variant with libseccomp and kept as raw BPF so that the child only has to
 * load them (no allocation after clone). Private to sandbox/.
 */
#ifndef AGENTD_SANDBOX_FILTER_H
#define AGENTD_SANDBOX_FILTER_H

#include <linux/filter.h>
#include "common/error.h"

/*
 * The program for (network allowed?, fallback mode?, debug?). Borrowed,
 * lives until exit. NULL with err set when libseccomp fails.
 */
const struct sock_fprog *sbx_filter_get(int network, int fallback, int debug,
    struct agentd_error *err);

#endif
