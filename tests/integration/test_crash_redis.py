#!/usr/bin/python3
"""The crash test (SIGKILL at random moments during ingestion, restarts,
idempotent retries, exact features) with the Redis online store."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["FRESHET_IT_CRASH_STORE"] = "redis"
import test_crash  # noqa: E402

if __name__ == "__main__":
    test_crash.main()
