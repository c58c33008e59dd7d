"""Every validator, fed arbitrary strings and numbers: a clean one-line error, or a value its reader accepts.

What "accepted" means comes from outside the validator: Kubernetes' name grammar (written here
anew), tomllib reading the rendered TOML back, urllib parsing the syncthing URL, the kms's own
trim of its key file (Rust's White_Space set, listed here from the Unicode standard).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import tempfile
import tomllib
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner_k8s import cli, flags
from runner_k8s.create.identities import read_key_file
from runner_k8s.create.rules import (
    BLOCK_DELAY_MAX,
    TIMESTAMP_MAX,
    check_chain_name,
    check_host,
    check_pvc_name,
    check_timestamp,
    parse_port_range,
)
from runner_k8s.errors import InputError, RunnerError, UsageError
from runner_k8s.keys.keystore import check_password, password_from_key_file
from runner_k8s.releases.v5_0_0.nodefiles import render_controller_config, render_genesis
from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config

# Kubernetes' grammar (k8s.io/apimachinery validation), independent of names.py.
DNS_1035_LABEL = re.compile(r"\A[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
DNS_1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_1123_SUBDOMAIN = re.compile(rf"\A{DNS_1123_LABEL}(\.{DNS_1123_LABEL})*\Z")
RUST_WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(max_size=80) | st.from_regex(r"\A[a-z0-9.\-\n]{0,70}\Z") | st.sampled_from(["a\n", "²", "٣", "1_0"])
numbers = st.integers(-(2**70), 2**70).map(str) | texts


def one_line(error: Exception) -> None:
    message = str(error)
    assert message and "\n" not in cli._one_line(message)


@PROPERTY
@given(name=texts, count=st.integers(1, 30))
def test_chain_names(name: str, count: int):
    try:
        check_chain_name(name, count)
    except UsageError as error:
        one_line(error)
        return
    assert DNS_1035_LABEL.match(name), name
    assert DNS_1035_LABEL.match(f"kms-secret-{name}-{count - 1}"), "every object name is a label too"


@PROPERTY
@given(name=texts)
def test_pvc_names(name: str):
    try:
        check_pvc_name(name)
    except UsageError as error:
        one_line(error)
        return
    assert len(name) <= 253 and DNS_1123_SUBDOMAIN.match(name), name


@PROPERTY
@given(text=numbers)
def test_block_delay_number_is_a_u32_the_controller_reads_back(text: str):
    try:
        value = flags.bounded_int(0, BLOCK_DELAY_MAX)(text)
    except argparse.ArgumentTypeError as error:
        one_line(error)
        return
    assert re.fullmatch(r"[0-9]+", text) and 0 <= value < 2**32
    assert tomllib.loads(render_controller_config(value).decode())["block_delay_number"] == value


@PROPERTY
@given(text=numbers | st.integers(0, 2**64).map(str))
def test_timestamps_are_milliseconds_a_toml_integer_holds(text: str):
    try:
        value = check_timestamp(flags.bounded_int(0, TIMESTAMP_MAX)(text))
    except (argparse.ArgumentTypeError, UsageError) as error:
        one_line(error)
        return
    assert value is not None and 10**11 <= value < 2**63
    assert tomllib.loads(render_genesis(value).decode())["timestamp"] == value


@PROPERTY
@given(text=texts | st.tuples(st.integers(-5, 70000), st.integers(-5, 70000)).map(lambda p: f"{p[0]}-{p[1]}"))
def test_node_port_ranges(text: str):
    try:
        allowed = parse_port_range(text)
    except UsageError as error:
        one_line(error)
        return
    assert 1 <= allowed[0] <= allowed[-1] <= 65535


hosts = (
    texts
    | st.sampled_from(["\u212a8s.io", "Example.COM"])
    | st.ip_addresses().map(str)
    | st.ip_addresses(v=6).map(lambda a: a.exploded.upper())
)


@PROPERTY
@given(host=hosts)
def test_hosts_are_addresses_or_names_and_fit_in_a_url(host: str):
    try:
        checked = check_host(host, "--nodes")
    except UsageError as error:
        one_line(error)
        return
    try:
        address = ipaddress.ip_address(checked)
    except ValueError:
        assert DNS_1123_SUBDOMAIN.match(checked) and len(checked) <= 253
        assert not checked.rsplit(".", 1)[-1].isdigit(), "a name never ends in a number"
        assert host.isascii() and checked == host.lower()
    else:
        assert address == ipaddress.ip_address(host) and checked == address.compressed
    bracketed = f"[{checked}]" if ":" in checked else checked
    url = urllib.parse.urlsplit(f"tcp://{bracketed}:22000")
    assert url.hostname == checked.lower() and url.port == 22000


@PROPERTY
@given(password=st.text(max_size=40))
def test_passwords_reach_the_kms_unchanged(password: str):
    try:
        check_password(password, "--kms_passwords entry 1", in_list=True)
    except UsageError as error:
        one_line(error)
        return
    assert flags.exact_comma_list(password) == [password], "passes --kms_passwords as it is"
    for ending in ("", "\n", "\r\n", " \t\n"):
        assert password_from_key_file(password + ending) == password, "the kms reads it back from a key file"
    assert password[-1] not in RUST_WHITE_SPACE


@PROPERTY
@given(text=st.text(max_size=40))
def test_create_account_and_multi_cluster_agree_on_every_key_file(text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "key_file"
        path.write_text(text, encoding="utf-8", newline="")
        try:
            _, password = read_key_file(path)
        except InputError as error:
            one_line(error)
            kms_password = text.rstrip("".join(RUST_WHITE_SPACE))  # what the kms itself would use
            if not kms_password:
                return
            with pytest.raises(UsageError) as refused:
                check_password(kms_password, "--kms_passwords entry 1", in_list=True)
            assert str(refused.value).split("entry 1 ", 1)[1] in str(error), "the same words"
            return
    assert password == text.rstrip("".join(RUST_WHITE_SPACE))
    assert check_password(password, "--kms_passwords entry 1", in_list=True) == password
    assert flags.exact_comma_list(password) == [password]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_service_config_file_is_read_or_refused_in_one_line(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "service-config.toml"
        path.write_bytes(data)
        try:
            load_service_config(path)
        except RunnerError as error:
            one_line(error)
