"""service-config.toml's values at their edges: Kubernetes quantities by unit, image references by grammar.

The expectations come from the two standards, not from serviceconfig.py: Kubernetes' resource.Quantity
(decimal suffixes k, M, G, T are powers of 1000; binary Ki, Mi, Gi, Ti are powers of 1024; a CPU's m
is a thousandth) and the registries' image reference grammar (distribution's reference package:
`[host[:port]/]path[:tag][@digest]`, a tag of word characters, dots and dashes that does not start
with either, a path of lowercase components).
"""

from __future__ import annotations

import tomllib

import pytest

from runner_k8s.errors import InputError
from runner_k8s.kube.images import image_repository, image_tag, pull_policy
from runner_k8s.kube.resources import Resources, memory_bytes, parse_resources
from runner_k8s.releases.v5_0_0.serviceconfig import CONTAINER_NAMES, parse_service_config
from tests.conftest import REPO

SHIPPED = (REPO / "service-config.toml").read_text()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 1),
        ("1k", 1000),
        ("1M", 1000**2),
        ("1G", 1000**3),
        ("1T", 1000**4),
        ("1Ki", 1024),
        ("1Mi", 1024**2),
        ("1Gi", 1024**3),
        ("1Ti", 1024**4),
        ("3Ti", 3 * 2**40),
        ("1K", None),  # the decimal kilo is a lowercase k
        ("1KI", None),
        ("1Pi", None),  # beyond what the README lists: refused, not misread
    ],
)
def test_each_memory_unit_is_its_power_of_1000_or_1024(text: str, size: int | None):
    assert memory_bytes(text) == size


def limits(wanted: str, limit: str) -> str:
    return f"[resources.default]\nmemory_request = '{wanted}'\nmemory_limit = '{limit}'"


@pytest.mark.parametrize(
    ("wanted", "limit"),
    [
        ("1000k", "1M"),  # equal: 10**6 both
        ("1Ti", "1100Gi"),  # 1024Gi below 1100Gi
        ("1Ti", "1024Gi"),  # equal
        ("1000M", "1G"),
        ("1000G", "1T"),
        ("1024Ki", "1Mi"),
        ("1k", "1000"),
        ("1Ki", "1024"),
    ],
)
def test_a_memory_request_up_to_its_limit_in_other_units_is_accepted(wanted: str, limit: str):
    parsed = parse_resources(tomllib.loads(limits(wanted, limit))["resources"], "svc", CONTAINER_NAMES)
    assert parsed["default"] == Resources(cpu_request="25m", memory_request=wanted, cpu_limit="1", memory_limit=limit)


@pytest.mark.parametrize(
    ("wanted", "limit"),
    [
        ("1001k", "1M"),
        ("1Ti", "1023Gi"),
        ("1001M", "1G"),
        ("1001G", "1T"),
        ("1025Ki", "1Mi"),
        ("1k", "999"),
        ("1Ki", "1023"),
        ("1Ti", "1T"),  # 2**40 is more than 10**12
    ],
)
def test_a_memory_request_just_above_its_limit_in_other_units_is_refused(wanted: str, limit: str):
    with pytest.raises(InputError) as refused:
        parse_resources(tomllib.loads(limits(wanted, limit))["resources"], "svc", CONTAINER_NAMES)
    assert str(refused.value) == (
        f"svc: resources.default: memory_request {wanted} exceeds memory_limit {limit}; "
        "Kubernetes refuses a request above its limit"
    )


@pytest.mark.parametrize(
    ("wanted", "limit", "accepted"), [("1000m", "1", True), ("0.5", "500m", True), ("0.501", "500m", False)]
)
def test_a_cpu_request_is_compared_with_its_limit_in_millicores(wanted: str, limit: str, accepted: bool):
    text = f"[resources.default]\ncpu_request = '{wanted}'\ncpu_limit = '{limit}'"
    if accepted:
        assert (
            parse_resources(tomllib.loads(text)["resources"], "svc", CONTAINER_NAMES)["default"].cpu_request == wanted
        )
        return
    with pytest.raises(InputError) as refused:
        parse_resources(tomllib.loads(text)["resources"], "svc", CONTAINER_NAMES)
    assert str(refused.value) == (
        f"svc: resources.default: cpu_request {wanted} exceeds cpu_limit {limit}; "
        "Kubernetes refuses a request above its limit"
    )


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "repository", "tag", "policy"),
    [
        ("citacloud/controller:v5.0.0", "controller", "v5.0.0", "IfNotPresent"),
        ("citacloud/controller", "controller", None, "Always"),
        ("citacloud/controller:latest", "controller", "latest", "Always"),
        ("controller:LATEST_1.x-y", "controller", "LATEST_1.x-y", "IfNotPresent"),  # tags are case-sensitive
        ("registry:5000/citacloud/controller", "controller", None, "Always"),  # a port is not a tag
        ("registry.example:5000/org/sub/kms_sm:v5", "kms_sm", "v5", "IfNotPresent"),
        ("[fd00::1]:5000/citacloud/kms_eth:v5", "kms_eth", "v5", "IfNotPresent"),
        (f"citacloud/controller:v5@{DIGEST}", "controller", "v5", "IfNotPresent"),
        (f"citacloud/controller@{DIGEST}", "controller", None, "IfNotPresent"),  # a digest pins it
        ("a__b/c-d--e/f.g", "f.g", None, "Always"),
    ],
)
def test_a_valid_image_reference_gives_its_repository_tag_and_pull_policy(
    image: str, repository: str, tag: str | None, policy: str
):
    assert (image_repository(image), image_tag(image), pull_policy(image)) == (repository, tag, policy)


def with_controller_image(image: str) -> dict[str, object]:
    return tomllib.loads(SHIPPED.replace('"citacloud/controller:v5.0.0"', repr(image).replace("'", '"'), 1))


MALFORMED = [
    "c:latest:x",  # two tags
    "citacloud/controller:",  # an empty tag
    "citacloud/controller:-v5",  # a tag starts with a word character
    "citacloud/controller:.v5",
    "citacloud/controller:" + "v" * 129,  # at most 128 characters
    "citacloud/Controller:v5",  # the path is lowercase
    "citacloud//controller",
    "citacloud/controller_",  # a separator joins two components
    "citacloud/controller@sha256:abc",  # a digest has at least 32 hex digits
    f"citacloud/controller@{DIGEST}:v5",  # the tag comes before the digest
    "citacloud/controller:v5.0 0",
    "-registry/controller",
]


@pytest.mark.parametrize("image", MALFORMED)
def test_a_malformed_image_reference_is_refused_not_given_a_tag_and_pull_policy(image: str):
    data = with_controller_image(image)
    services = data["services"]
    assert isinstance(services, list)
    number = next(n for n, entry in enumerate(services) if entry["name"] == "controller")
    with pytest.raises(InputError) as refused:
        parse_service_config(data, "svc")
    assert str(refused.value) == (
        f"svc: services entry {number} has docker_image {image!r}, which is not an image reference; write "
        "[registry[:port]/]name[:tag][@digest] with a lowercase name, e.g. citacloud/controller:v5.0.0"
    )


def test_the_tag_may_be_128_characters():
    image = "citacloud/controller:" + "v" * 128
    config = parse_service_config(with_controller_image(image), "svc")
    assert config.get("controller").image == image
    assert image_tag(image) == "v" * 128


@pytest.mark.parametrize("image", MALFORMED)
def test_the_image_helpers_refuse_a_malformed_reference_rather_than_guess(image: str):
    """The manifests read tags and pull policies only of checked references; given another, they say so."""
    for read in (image_repository, image_tag, pull_policy):
        with pytest.raises(ValueError, match="is not an image reference") as refused:
            read(image)
        assert str(refused.value) == f"{image!r} is not an image reference"
