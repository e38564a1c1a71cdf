"""The registry maps type+version to the current model and upcasts old versions on read."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from shared.events import Event, Registry, UnknownEventType


def test_old_versions_are_upcast_to_the_current_model() -> None:
    reg = Registry()

    @reg.register
    class ProviderNamed(Event):
        service: ClassVar[str] = "referral"
        version: ClassVar[int] = 3
        name_en: str
        name_tg: str

    @reg.upcaster("referral", "ProviderNamed", 1)
    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        return {"name_en": d["name"]}

    @reg.upcaster("referral", "ProviderNamed", 2)
    def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "name_tg": ""}

    assert ProviderNamed.type_name() == "org.safepath.referral.ProviderNamed.v3"
    old = reg.load("org.safepath.referral.ProviderNamed.v1", {"name": "Femida"})
    assert old == ProviderNamed(name_en="Femida", name_tg="")
    assert reg.load(ProviderNamed.type_name(), {"name_en": "a", "name_tg": "b"}).name_tg == "b"


def test_unknown_and_future_types_are_refused() -> None:
    reg = Registry()

    @reg.register
    class CaseOpened(Event):
        service: ClassVar[str] = "case"

    with pytest.raises(UnknownEventType):
        reg.load("org.safepath.case.Nope.v1", {})
    with pytest.raises(UnknownEventType):
        reg.load("org.safepath.case.CaseOpened.v2", {})
    with pytest.raises(UnknownEventType):
        reg.load("not a type", {})
