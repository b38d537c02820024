"""Who sees which rows: the rule that the API, the dashboard and the media links share.

A row belongs to its owner (a prediction's, a job's submitter). Staff, and users
holding the model's `view_` permission, see every row; a signed-in user sees their
own; an anonymous caller sees none (they get their predictions in the answer, and
follow a batch job with its access key). A row without an owner, an anonymous
caller's or a deleted user's, is seen by staff only: NULL never means public.
"""

from __future__ import annotations

from django.db.models import Q


def sees_everything(user, permission: str) -> bool:
    """Staff, and users holding `permission` (a `view_` permission), see every row."""
    return bool(user and user.is_authenticated and (user.is_staff or user.has_perm(permission)))


def visible_to(user, owner_field: str, permission: str) -> Q | None:
    """The rows `user` may see: their own (`owner_field` names the owner), or every
    row (None: no restriction) when sees_everything."""
    if sees_everything(user, permission):
        return None
    if user and user.is_authenticated:
        return Q(**{owner_field: user})
    return Q(pk__in=[])
