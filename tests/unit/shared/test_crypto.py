"""Identifying fields are sealed per case: readable with the case key, gone without it."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from shared.crypto import (
    CASE_KEY_TABLE_SQL,
    CryptoError,
    KeyErased,
    MemoryKeyStore,
    PgKeyStore,
    case_aad,
    master_key_from_setting,
    new_key,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)
from shared.events.base import Sealed

PROFILE = {"given_name": "Gulnora", "family_name": "Rahimova", "date_of_birth": date(1994, 3, 8)}
CASE = "01972f4e-0000-7000-8000-000000000001"


def _flip_last_byte(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_sealed_fields_open_with_the_case_key() -> None:
    key = new_key()

    sealed = seal(key, CASE, PROFILE, case_aad(CASE))

    assert open_sealed(key, sealed, case_aad(CASE)) == {
        "given_name": "Gulnora",
        "family_name": "Rahimova",
        "date_of_birth": "1994-03-08",
    }
    assert sealed.alg == "AES-256-GCM" and sealed.kid == CASE


def test_the_sealed_blob_shows_nothing_of_the_plaintext() -> None:
    sealed = seal(new_key(), CASE, PROFILE, case_aad(CASE))

    dumped = sealed.model_dump_json().encode() + base64.b64decode(sealed.ct)
    assert b"Gulnora" not in dumped and b"Rahimova" not in dumped and b"1994" not in dumped


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key = new_key()

    first, second = (seal(key, CASE, PROFILE, case_aad(CASE)) for _ in range(2))

    assert first.nonce != second.nonce and first.ct != second.ct


def test_a_tampered_ciphertext_is_refused() -> None:
    key = new_key()
    sealed = seal(key, CASE, PROFILE, case_aad(CASE))
    tampered = sealed.model_copy(update={"ct": _flip_last_byte(sealed.ct)})

    with pytest.raises(CryptoError):
        open_sealed(key, tampered, case_aad(CASE))


def test_a_tampered_nonce_is_refused() -> None:
    key = new_key()
    sealed = seal(key, CASE, PROFILE, case_aad(CASE))
    tampered = sealed.model_copy(update={"nonce": _flip_last_byte(sealed.nonce)})

    with pytest.raises(CryptoError):
        open_sealed(key, tampered, case_aad(CASE))


def test_a_blob_moved_to_another_case_does_not_open() -> None:
    key = new_key()
    sealed = seal(key, CASE, PROFILE, case_aad(CASE))

    with pytest.raises(CryptoError):
        open_sealed(key, sealed, case_aad("01972f4e-0000-7000-8000-000000000002"))


def test_another_key_does_not_open_it() -> None:
    sealed = seal(new_key(), CASE, PROFILE, case_aad(CASE))

    with pytest.raises(CryptoError):
        open_sealed(new_key(), sealed, case_aad(CASE))


def test_garbage_is_a_crypto_error_not_a_crash() -> None:
    garbage = Sealed(kid=CASE, nonce="not base64!", ct="AAAA")

    with pytest.raises(CryptoError):
        open_sealed(new_key(), garbage, case_aad(CASE))


def test_an_erased_key_means_the_data_is_gone() -> None:
    sealed = seal(new_key(), CASE, PROFILE, case_aad(CASE))

    with pytest.raises(KeyErased):
        open_sealed(None, sealed, case_aad(CASE))


def test_a_wrapped_key_unwraps_with_the_master_key_and_case() -> None:
    master, key = new_key(), new_key()

    wrapped = wrap_key(master, key, context=case_aad(CASE))

    assert key not in wrapped
    assert unwrap_key(master, wrapped, context=case_aad(CASE)) == key


def test_a_wrapped_key_does_not_unwrap_with_another_master_or_case() -> None:
    master, key = new_key(), new_key()
    wrapped = wrap_key(master, key, context=case_aad(CASE))

    with pytest.raises(CryptoError):
        unwrap_key(new_key(), wrapped, context=case_aad(CASE))
    with pytest.raises(CryptoError):
        unwrap_key(master, wrapped, context=case_aad("another-case"))


def test_the_master_key_setting_is_base64_of_32_bytes() -> None:
    assert len(master_key_from_setting(base64.b64encode(bytes(range(32))).decode())) == 32
    with pytest.raises(ValueError):
        master_key_from_setting(base64.b64encode(b"too short").decode())
    with pytest.raises(ValueError):
        master_key_from_setting("not base64 at all!")


async def test_the_memory_key_store_creates_once_and_erases_for_good() -> None:
    store = MemoryKeyStore()
    key = await store.create(CASE)
    sealed = seal(key, CASE, PROFILE, case_aad(CASE))

    assert await store.create(CASE) == key  # a retry gets the same key
    assert await store.erase(CASE) is True
    with pytest.raises(KeyErased):
        open_sealed(await store.get(CASE), sealed, case_aad(CASE))
    assert await store.erase(CASE) is False


def test_the_key_table_sql_names_the_schema() -> None:
    sql = CASE_KEY_TABLE_SQL.format(schema='"case"')

    assert 'CREATE TABLE IF NOT EXISTS "case".case_key' in sql
    assert "wrapped_key bytea NOT NULL" in sql


def test_the_pg_key_store_refuses_an_unsafe_schema_name() -> None:
    with pytest.raises(ValueError):
        PgKeyStore(object(), 'case"; DROP TABLE x; --', new_key())  # type: ignore[arg-type]
