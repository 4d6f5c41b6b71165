# tests/: integration tests that run the real daemon against the scripted model server.
TESTS += tests/integration/test_common.sh
