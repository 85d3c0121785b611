#!/usr/bin/env python3
"""Prints an htpasswd line for USER with the password read on stdin, hashed with bcrypt.

    scripts/platform/htpasswd.py USER <password-file

nginx's auth_basic checks bcrypt through the C library's crypt (libxcrypt), which Python's crypt
module calls too; 2^10 rounds. scripts/platform/secrets.sh writes the proxy's monitoring.htpasswd so.
"""
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves Python in 3.13; bookworm has 3.11
    import crypt

if len(sys.argv) != 2:
    sys.exit(__doc__.strip().splitlines()[2].strip())
password = sys.stdin.read().strip()
if not password:
    sys.exit("htpasswd: empty password on stdin")
print(f"{sys.argv[1]}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))}")
