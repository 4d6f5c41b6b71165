# common/: the error enum, bounded buffers and JSON helpers every module shares.
noinst_LIBRARIES += libcommon.a
libcommon_a_SOURCES = common/error.c common/error.h common/buf.c common/buf.h \
	common/json.c common/json.h common/common.h
