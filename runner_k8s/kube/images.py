"""Container image references: their grammar, repository, tag and the pull policy they call for."""

from __future__ import annotations

import functools
import re

# The image reference grammar of container registries (distribution's reference package):
# [host[:port]/]path[:tag][@digest], the path lowercase components joined by "/".
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    rf"(?:{_HOST}/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>\w[\w.-]{{0,127}}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)


@functools.lru_cache(maxsize=64)  # a chain asks about its few images once per container
def _reference(image: str) -> re.Match[str]:
    match = IMAGE_REFERENCE.fullmatch(image)
    if match is None:
        raise ValueError(f"{image!r} is not an image reference")
    return match


def image_repository(image: str) -> str:
    """`registry/org/name:tag@digest` -> `name`."""
    return _reference(image)["path"].rsplit("/", 1)[-1]


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none."""
    return _reference(image)["tag"]


def pull_policy(image: str) -> str:
    """`Always` for an untagged or :latest image (it moves), `IfNotPresent` for a pinned one (tag or digest)."""
    reference = _reference(image)
    if reference["digest"] is not None:
        return "IfNotPresent"
    return "Always" if reference["tag"] in (None, "latest") else "IfNotPresent"
