"""Staff password hashes and signed session tokens (assistant.auth)."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from assistant.auth import hash_password, read_session, sign_session, verify_password

KEY = b"k" * 32
NOW = 1_800_000_000.0


def test_hash_format_and_verify() -> None:
    encoded = hash_password("정답-비밀번호!", iterations=1000)
    algorithm, iterations, salt, digest = encoded.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", "1000")
    assert len(salt) == 32 and len(digest) == 64
    assert verify_password("정답-비밀번호!", encoded)
    assert not verify_password("정답-비밀번호", encoded)
    assert not verify_password("", encoded)


def test_default_iterations_and_random_salt() -> None:
    a, b = hash_password("pw"), hash_password("pw")
    assert a.split("$")[1] == "260000"
    assert a != b and a.split("$")[2] != b.split("$")[2]
    assert verify_password("pw", a) and verify_password("pw", b)


@pytest.mark.parametrize("encoded", [
    "", "plain", "md5$1000$aa$bb", "pbkdf2_sha256$x$aa$bb", "pbkdf2_sha256$0$aa$bb",
    "pbkdf2_sha256$1000$aa$zz", "pbkdf2_sha256$1000$aa$", "pbkdf2_sha256$1000$$abcd",
    "pbkdf2_sha256$1000$솔트$abcd", "pbkdf2_sha256$99999999999$aa$bb", "a$b$c$d$e",
])
def test_malformed_hash_never_matches(encoded: str) -> None:
    assert verify_password("pw", encoded) is False


def test_hash_rejects_bad_iterations() -> None:
    with pytest.raises(ValueError):
        hash_password("pw", iterations=0)


def test_session_round_trip() -> None:
    token = sign_session("김주무관", KEY, 8, now=NOW)
    assert read_session(token, KEY, now=NOW) == "김주무관"
    assert read_session(token, KEY, now=NOW + 8 * 3600 - 1) == "김주무관"
    assert "김" not in token and token.isascii()


def test_expired_session() -> None:
    token = sign_session("staff", KEY, 1, now=NOW)
    assert read_session(token, KEY, now=NOW + 3600) is None
    assert read_session(token, KEY, now=NOW + 10 * 3600) is None


def test_other_key_is_rejected() -> None:
    token = sign_session("staff", KEY, 8, now=NOW)
    assert read_session(token, b"other-key", now=NOW) is None


def test_tampered_tokens_are_rejected() -> None:
    token = sign_session("staff", KEY, 8, now=NOW)
    user, expires, sig = token.split(".")
    other_user = base64.urlsafe_b64encode(b"admin").rstrip(b"=").decode()
    tampered = [
        f"{other_user}.{expires}.{sig}",  # another name, same signature
        f"{user}.{int(expires) + 3600 * 24 * 365}.{sig}",  # longer life
        f"{user}.{expires}.{sig[:-2]}AA",  # altered signature
        f"{user}.{expires}", "", "...", "a.b.c", f"{user}.{expires}.{sig}.x",
        f"{user}.{expires}.{sig}=", f"한글.{expires}.{sig}",
    ]
    for t in tampered:
        assert read_session(t, KEY, now=NOW) is None, t


def test_sign_rejects_empty_username() -> None:
    with pytest.raises(ValueError):
        sign_session("", KEY, 8)


def test_cli_hash_password_reads_stdin() -> None:
    out = subprocess.run([sys.executable, "-m", "assistant", "hash-password"], input="s3cret-비밀\n",
                         capture_output=True, text=True, timeout=60, check=True)
    encoded = out.stdout.strip()
    assert encoded.startswith("pbkdf2_sha256$260000$")
    assert verify_password("s3cret-비밀", encoded)
    assert "s3cret" not in out.stdout + out.stderr
