"""TrainingConfig checks every knob against its declaration (ml_core.config.KNOBS)."""

import math
import re

import pytest

from ml_core.config import KNOBS, Knob, TrainingConfig

NUMBERS = [knob for knob in KNOBS if knob.type in (int, float)]
CHOICES = [knob for knob in KNOBS if knob.choices]
SWITCHES = [knob for knob in KNOBS if knob.type is bool]


def by_name(knobs: list[Knob]) -> dict:
    return {"argvalues": knobs, "ids": [knob.name for knob in knobs]}


def test_every_knob_is_bounded_or_has_choices():
    assert {knob.type for knob in KNOBS} == {int, float, str, bool}
    for knob in NUMBERS:
        assert knob.minimum <= knob.default <= knob.maximum, knob.name
    for knob in CHOICES:
        assert knob.type is str and knob.default in knob.choices, knob.name


@pytest.mark.parametrize("knob", **by_name(NUMBERS))
def test_a_number_knob_takes_its_bounds_and_nothing_beyond(knob):
    assert getattr(TrainingConfig(**{knob.name: knob.minimum}), knob.name) == knob.minimum
    assert getattr(TrainingConfig(**{knob.name: knob.maximum}), knob.name) == knob.maximum
    if knob.type is int:
        outside = [knob.minimum - 1, knob.maximum + 1]
    else:
        outside = [math.nextafter(knob.minimum, -math.inf), math.nextafter(knob.maximum, math.inf)]
    for value in [*outside, math.nan, math.inf]:
        with pytest.raises(ValueError, match=f"^{knob.name} must be"):
            TrainingConfig(**{knob.name: value})


@pytest.mark.parametrize("knob", **by_name(NUMBERS))
def test_a_number_knob_refuses_text_and_booleans(knob):
    for value in [str(knob.default), True, None]:
        with pytest.raises(ValueError, match=f"^{knob.name} must be an? (integer|number)$"):
            TrainingConfig(**{knob.name: value})


def test_an_integer_knob_refuses_fractions_and_a_float_knob_takes_integers():
    with pytest.raises(ValueError, match="^epochs must be an integer$"):
        TrainingConfig(epochs=2.5)
    assert TrainingConfig(weight_decay=0).weight_decay == 0


@pytest.mark.parametrize("knob", **by_name(CHOICES))
def test_a_choice_knob_takes_its_choices_only(knob):
    for choice in knob.choices:
        assert getattr(TrainingConfig(**{knob.name: choice}), knob.name) == choice
    for value in [knob.default.upper(), "", None]:
        with pytest.raises(ValueError, match=f"^{knob.name} must be one of"):
            TrainingConfig(**{knob.name: value})


@pytest.mark.parametrize("knob", **by_name(SWITCHES))
def test_a_switch_knob_takes_booleans_only(knob):
    assert getattr(TrainingConfig(**{knob.name: False}), knob.name) is False
    for value in [0, 1, "false"]:
        with pytest.raises(ValueError, match=f"^{knob.name} must be true or false$"):
            TrainingConfig(**{knob.name: value})


def test_every_problem_is_named_at_once():
    every = (
        "epochs must be between 1 and 500; seed must be between 0 and 4294967295; "
        "optimizer must be one of adamw, sgd; flip must be true or false"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(every)}$"):
        TrainingConfig(epochs=0, seed=2**32, optimizer="rmsprop", flip="yes")


def test_a_knob_declared_without_bounds_or_choices_is_refused():
    with pytest.raises(TypeError, match="depth needs bounds"):
        Knob(name="depth", type=int, default=4, help="layers", minimum=1)
    with pytest.raises(TypeError, match="activation needs bounds"):
        Knob(name="activation", type=str, default="relu", help="activation")
    with pytest.raises(TypeError, match="depth's default is invalid: depth must be between"):
        Knob(name="depth", type=int, default=40, help="layers", minimum=1, maximum=8)
