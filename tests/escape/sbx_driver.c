/*
 * sbx_driver.c — a stand-in for `agentctl sandbox` used by the escape
 * battery when agentctl is not built: `sbx_driver sandbox ARGS...`.
 */
#include "client/ctl.h"

int
main(int argc, char **argv)
{
	return ctl_sandbox_main(argc - 1, argv + 1);
}
