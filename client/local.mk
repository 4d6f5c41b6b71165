# client/: agentctl, the command-line client (its sandbox front end and the
# Agent Client Protocol bridge for editors). It talks to agentd only over the
# socket, through daemon/rpc.h's framing.
bin_PROGRAMS += agentctl

# The client stays light: no libcurl, libgit2 or SQLite. It finds skills
# itself (agent/skills.c needs only libc and jansson).
agentctl_SOURCES = client/agentctl.c client/ctl.h client/ctl_sandbox.c client/ctl_acp.c \
	agent/skills.c agent/instructions.c
agentctl_CFLAGS = $(AM_CFLAGS)
# static-pie unless configured otherwise (configure.ac: --disable-static-agentctl)
agentctl_LDFLAGS = $(AM_LDFLAGS) $(CTL_STATIC_LDFLAGS)
agentctl_LDADD = libdaemon.a libsched.a $(SANDBOX_LIBS) $(JANSSON_LIBS)

# Shell completion, written by the built agentctl from its own command table.
bashcompletiondir = $(datadir)/bash-completion/completions
zshcompletiondir = $(datadir)/zsh/site-functions
bashcompletion_DATA = completions/agentctl
zshcompletion_DATA = completions/_agentctl
completions/agentctl: agentctl$(EXEEXT)
	$(MKDIR_P) completions && ./agentctl$(EXEEXT) completion bash > $@
completions/_agentctl: agentctl$(EXEEXT)
	$(MKDIR_P) completions && ./agentctl$(EXEEXT) completion zsh > $@
CLEANFILES += completions/agentctl completions/_agentctl

