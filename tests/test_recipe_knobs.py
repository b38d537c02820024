"""Every recipe knob of ml_core.config (each TrainingConfig field) is offered with the
same default and bounds by the API's request fields, `manage.py train_model`'s
options and the dashboard's retrain form: declaring a knob once is enough, and a
surface that drifts from the declaration fails here."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from rest_framework import serializers

from ml_core.config import KNOBS, Knob, TrainingConfig
from training.api.serializers import TrainingJobRequestSerializer
from training.management.commands.train_model import Command

NUMBERS = [knob for knob in KNOBS if knob.type in (int, float)]
NON_RECIPE_FIELDS = {"max_train_images", "auto_promote", "priority"}
FIELD_CLASSES = {
    int: serializers.IntegerField,
    float: serializers.FloatField,
    bool: serializers.BooleanField,
    str: serializers.ChoiceField,
}


def by_name(knobs: list[Knob]) -> dict:
    return {"argvalues": knobs, "ids": [knob.name for knob in knobs]}


def beyond(knob: Knob) -> tuple[float, float]:
    """The nearest values of the knob's type just outside its bounds."""
    if knob.type is int:
        return knob.minimum - 1, knob.maximum + 1
    return math.nextafter(knob.minimum, -math.inf), math.nextafter(knob.maximum, math.inf)


def test_every_training_config_field_is_a_declared_knob():
    assert [knob.name for knob in KNOBS] == list(TrainingConfig.__dataclass_fields__)
    assert {knob.name: knob.default for knob in KNOBS} == TrainingConfig().to_dict()


# The API: TrainingJobRequestSerializer and so the OpenAPI schema.


def test_the_api_takes_every_knob_and_the_three_job_options():
    fields = TrainingJobRequestSerializer().fields
    assert set(fields) == {knob.name for knob in KNOBS} | NON_RECIPE_FIELDS


@pytest.mark.parametrize("knob", **by_name(KNOBS))
def test_the_api_field_has_the_knobs_type_default_bounds_and_help(knob):
    field = TrainingJobRequestSerializer().fields[knob.name]
    assert type(field) is FIELD_CLASSES[knob.type]
    assert (field.default, field.help_text) == (knob.default, knob.sentence)
    assert (getattr(field, "min_value", None), getattr(field, "max_value", None)) == (
        knob.minimum,
        knob.maximum,
    )
    assert tuple(getattr(field, "choices", {})) == knob.choices


@pytest.mark.parametrize("knob", **by_name(NUMBERS))
def test_the_api_accepts_the_bounds_and_refuses_beyond_them(knob):
    for edge in (knob.minimum, knob.maximum):
        serializer = TrainingJobRequestSerializer(data={knob.name: edge})
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data[knob.name] == edge
    for outside in beyond(knob):
        serializer = TrainingJobRequestSerializer(data={knob.name: outside})
        assert not serializer.is_valid()
        assert set(serializer.errors) == {knob.name}


# The command: manage.py train_model.


def options() -> dict:
    parser = Command().create_parser("manage.py", "train_model")
    return {action.dest: action for action in parser._actions}


@pytest.mark.parametrize("knob", **by_name(KNOBS))
def test_the_command_option_has_the_knobs_default_choices_and_bounds(knob):
    option = options()[knob.name]
    assert option.option_strings[0] == "--" + knob.name.replace("_", "-")
    assert option.default == knob.default
    assert tuple(option.choices or ()) == knob.choices
    if knob.type is bool:
        assert option.option_strings == ["--" + knob.name, "--no-" + knob.name]
    else:
        assert option.type is knob.type
    if knob in NUMBERS:
        assert f"{knob.minimum} to {knob.maximum}" in option.help


@pytest.mark.parametrize("knob", **by_name(NUMBERS))
def test_the_command_refuses_values_beyond_the_bounds_naming_the_knob(knob):
    option = "--" + knob.name.replace("_", "-")
    for outside in beyond(knob):
        with pytest.raises(CommandError, match=f"^{knob.name} must be"):
            call_command("train_model", f"{option}={outside!r}")


# The page: the dashboard's retrain form.


class FormControls(HTMLParser):
    """Each input and select by name: its attributes, and a select's options."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict] = {}
        self.select: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag in {"input", "select"}:
            self.controls[attributes["name"]] = {"tag": tag, **attributes, "options": []}
            self.select = self.controls[attributes["name"]] if tag == "select" else None
        elif tag == "option" and self.select is not None:
            self.select["options"].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


@pytest.fixture
def form(client, db) -> dict[str, dict]:
    user = User.objects.create_user("trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_job"))
    client.force_login(user)
    parser = FormControls()
    parser.feed(client.get("/retrain/").content.decode())
    return parser.controls


def test_the_retrain_form_has_an_input_for_every_knob(form):
    knob_inputs = {name for name, control in form.items() if "data-knob" in control}
    assert knob_inputs == {knob.name for knob in KNOBS}


@pytest.mark.parametrize("knob", **by_name(KNOBS))
def test_the_retrain_form_input_has_the_knobs_default_and_bounds(form, knob):
    control = form[knob.name]
    if knob.type is bool:
        assert (control["type"], "checked" in control) == ("checkbox", knob.default)
    elif knob.choices:
        assert tuple(option["value"] for option in control["options"]) == knob.choices
        selected = [option["value"] for option in control["options"] if "selected" in option]
        assert selected == [knob.default]
    else:
        assert control["type"] == "number"
        assert knob.type(control["value"]) == knob.default
        assert (float(control["min"]), float(control["max"])) == (knob.minimum, knob.maximum)
        assert control["step"] == ("1" if knob.type is int else "any")
