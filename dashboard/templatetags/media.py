"""`{{ file|signed_url }}`: a stored file's signed, expiring URL (classifier_site.media)."""

from django import template

from classifier_site.media import signed_path

register = template.Library()


@register.filter
def signed_url(file) -> str:
    return signed_path(file.name)
