/*
 * sandbox_filter.h — the seccomp programs of the sandbox. The rules are
 * written with libseccomp (sandbox_filter.c) and compiled at build time by
 * gen_filter into raw BPF (sandbox_filter_bpf.c), so that a run only has
 * to load a constant program: no libseccomp at run time, no allocation
 * after clone. Private to sandbox/.
 */
#ifndef AGENTD_SANDBOX_FILTER_H
#define AGENTD_SANDBOX_FILTER_H

#include <linux/filter.h>
#include "common/error.h"

/* Index of a variant in sbx_filter_progs. */
#define SBX_FILTER_INDEX(network, fallback) (((network) ? 1 : 0) | ((fallback) ? 2 : 0))
#define SBX_FILTER_VARIANTS 4

/*
 * The compiled programs, for (network allowed?, fallback mode?), for the
 * architecture the build ran on (generated; see gen_filter.c). The debug
 * mode loads the same program with SECCOMP_FILTER_FLAG_LOG.
 */
extern const struct sock_fprog sbx_filter_progs[SBX_FILTER_VARIANTS];

/* Build time and tests only (needs libseccomp): compile one variant;
 * NULL with err set on failure. Free with sbx_filter_free. */
struct sock_fprog *sbx_filter_build(int network, int fallback, struct agentd_error *err);
void sbx_filter_free(struct sock_fprog *p);

#endif
