/* common.h — everything in common/, for files that want it all. */
#ifndef AGENTD_COMMON_H
#define AGENTD_COMMON_H
#include "common/error.h"
#include "common/buf.h"
#include "common/json.h"
#endif
