"""Fabric files: node-link JSON and NCCL topology XML, round trips, hostile and fuzzed input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qnvlink
from qnvlink import InvalidFabric, MalformedFile
from qnvlink.fabric_io import fabric_from_json, fabric_from_xml, fabric_to_json, fabric_to_xml

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("key", ["links", "edges"])
def test_json_round_trip_with_links_or_edges(tmp_path: Path, key: str) -> None:
    fabric = qnvlink.cluster("dgx-h100", 2)
    data = fabric_to_json(fabric)
    data[key] = data.pop("links")
    path = tmp_path / "f.json"
    path.write_text(json.dumps(data))
    back = qnvlink.read_fabric(path)
    assert back.gpus == fabric.gpus and back.nics == fabric.nics
    assert np.allclose(back.distance, fabric.distance)


def test_write_then_read_json_and_xml(tmp_path: Path) -> None:
    fabric = qnvlink.dgx_h100()
    for name in ("f.json", "f.xml"):
        back = qnvlink.read_fabric(qnvlink.write_fabric(fabric, tmp_path / name))
        assert back.num_gpus == 8 and len(back.nics) == 8 and len(back.numa_nodes) == 2


@pytest.mark.parametrize("builder", ["dgx-h100", "dgx-a100", "partial-nvlink", "gb200-nvl72"])
def test_xml_round_trip_keeps_nvlink_bandwidth(builder: str) -> None:
    fabric = qnvlink.build(builder)
    back = fabric_from_xml(fabric_to_xml(fabric))
    assert back.num_gpus == fabric.num_gpus

    def nvlink(f: qnvlink.Fabric) -> list[float]:
        return [
            sum(d["bandwidth"] for _, _, d in f.graph.edges(g, data=True) if d["type"] == "nvlink")
            for g in f.gpus
        ]

    assert nvlink(back) == pytest.approx(nvlink(fabric))
    # NVLink routes are identical; PCIe figures follow NCCL's own formula after the trip
    nv = fabric.distance < 1e-5
    assert np.allclose(back.distance[nv], fabric.distance[nv])


def test_hand_written_topo_file_pcie_tree_two_numa_nodes() -> None:
    fabric = qnvlink.read_fabric(DATA / "ndv4_topo_file.xml")
    assert fabric.num_gpus == 8 and len(fabric.nics) == 8 and len(fabric.numa_nodes) == 2
    # PCIe Gen4 x16 in NCCL's terms: 16 lanes x 120 / 80 = 24 GB/s
    g = fabric.gpus[0]
    assert [d["bandwidth"] for _, _, d in fabric.graph.edges(g, data=True)] == [24.0]
    # GPUs under one switch are closer than GPUs on the other socket
    assert fabric.distance[0, 1] < fabric.distance[0, 4]


def test_dump_with_nvlinks_and_nics() -> None:
    fabric = qnvlink.read_fabric(DATA / "dump_nvlink.xml")
    assert fabric.num_gpus == 4 and len(fabric.nics) == 2
    assert [fabric.graph.nodes[g]["dev"] for g in fabric.gpus] == [0, 1, 2, 3]
    g0, g2 = fabric.gpus[0], fabric.gpus[2]
    assert fabric.graph.edges[g0, g2]["bandwidth"] == 50.0  # count=2 at sm 70: 2 x 25 GB/s
    speeds = sorted(fabric.graph.nodes[n]["speed_mbps"] for n in fabric.nics)
    assert speeds == [100000, 100000]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<system version="1"><cpu numaid="0">&lol3;</cpu></system>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE system [<!ENTITY x SYSTEM "file:///etc/passwd">]><system>&x;</system>"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL])
def test_entity_expansion_is_refused(text: str) -> None:
    with pytest.raises(MalformedFile, match="DTD"):
        fabric_from_xml(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<system", "well-formed"),
        ("<topology/>", "root element"),
        ("<system version='1'/>", "no <cpu>"),
        ("<system><cpu numaid='x'/></system>", r"numaid: is 'x'"),
        (
            "<system><cpu numaid='0'><pci busid='zz' class='0x030200'/></cpu></system>",
            r"pci\[0\]\.busid",
        ),
        (
            "<system><cpu numaid='0'><pci busid='0000:01:00.0' class='gpu'/></cpu></system>",
            r"\.class",
        ),
        ("<system><cpu numaid='0'/></system>", "no node has kind 'gpu'"),
    ],
)
def test_malformed_xml_names_the_field(text: str, match: str) -> None:
    with pytest.raises((MalformedFile, InvalidFabric), match=match):
        fabric_from_xml(text)


def test_nvlink_to_unknown_gpu_is_named() -> None:
    text = """<system><cpu numaid="0"><pci busid="0000:01:00.0" class="0x030200">
    <gpu dev="0" sm="90"><nvlink target="0000:99:00.0" count="2" tclass="0x030200"/></gpu>
    </pci></cpu></system>"""
    with pytest.raises(MalformedFile, match=r"nvlink\[0\]\.target"):
        fabric_from_xml(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[]", "expected an object"),
        ('{"nodes": []}', "links"),
        ('{"nodes": [{"id": "a"}], "links": []}', r"nodes\[0\]\.kind"),
        (
            '{"nodes": [{"id": "a", "kind": "gpu"}, {"id": "a", "kind": "gpu"}], "links": []}',
            "twice",
        ),
        (
            '{"nodes": [{"id": "a", "kind": "gpu"}], "links": [{"source": "a", "target": "b"}]}',
            "target",
        ),
        (
            '{"nodes": [{"id": "a", "kind": "gpu"}, {"id": "b", "kind": "gpu"}], '
            '"links": [{"source": "a", "target": "b", "bandwidth": NaN}]}',
            "NaN",
        ),
        (
            '{"nodes": [{"id": "a", "kind": "gpu"}, {"id": "b", "kind": "gpu"}], "links": []}',
            "disconnected",
        ),
        ("[" * 100000 + "]" * 100000, "deep|JSON"),
        ("{nope", "not valid JSON"),
        ('{"nodes": [{"id": 1' + "0" * 5000 + ', "kind": "gpu"}], "links": []}', "JSON"),
        (
            '{"nodes": [{"id": "a", "kind": "gpu", "plane_group": [1]}], "links": []}',
            "plane_group",
        ),
    ],
)
def test_malformed_json_names_the_field(text: str, match: str) -> None:
    with pytest.raises((MalformedFile, InvalidFabric), match=match):
        fabric_from_json(text)


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qnvlink.fabric_io as io

    monkeypatch.setattr(io, "MAX_BYTES", 10)
    path = tmp_path / "f.json"
    path.write_text(json.dumps(fabric_to_json(qnvlink.dgx_h100())))
    with pytest.raises(MalformedFile, match="refused"):
        qnvlink.read_fabric(path)


XML_PIECES = st.sampled_from(
    [
        "<system>", "</system>", "<cpu numaid='0'>", "<cpu numaid='1' host_hash='0x2'>", "</cpu>",
        "<pci busid='0000:01:00.0' class='0x060400' link_width='16' link_speed='16 GT/s'>",
        "<pci busid='0000:02:00.0' class='0x030200'>",
        "<pci busid='0000:03:00.0' class='0x020700'/>",
        "</pci>", "<gpu dev='0' sm='90'>", "<gpu dev='-1'>", "</gpu>",
        "<nvlink target='0000:02:00.0' count='2' tclass='0x030200'/>",
        "<nvlink target='0000:0f:00.0' count='4' tclass='0x068000'/>", "<nic>", "</nic>",
        "<net dev='0' speed='400000'/>", "<net dev='x'/>", "&amp;", "<!-- c -->", "junk",
        "<!DOCTYPE s [<!ENTITY a 'b'>]>", "<pci class='0x03'/>",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(XML_PIECES, max_size=25).map("".join), st.text(max_size=200)))
def test_xml_reader_fuzz_gives_a_fabric_or_a_named_error(text: str) -> None:
    try:
        fabric = fabric_from_xml(text)
    except (MalformedFile, InvalidFabric) as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert fabric.num_gpus >= 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
NODES = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["a", "b", "c", 1]),
            "kind": st.sampled_from(["gpu", "nvswitch", "x"]),
        },
        optional={
            "dev": JSON_VALUES,
            "domain": JSON_VALUES,
            "host": JSON_VALUES,
            "plane_group": JSON_VALUES,
        },
    ),
    max_size=4,
)
LINKS = st.lists(
    st.fixed_dictionaries(
        {"source": st.sampled_from(["a", "b", "c", 1, None])},
        optional={
            "target": st.sampled_from(["a", "b", "c", 2]),
            "bandwidth": st.one_of(st.floats(), st.integers(-3, 900), st.text(max_size=3)),
            "latency": st.one_of(st.floats(), st.integers(-3, 3)),
        },
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        JSON_VALUES.map(json.dumps),
        st.builds(lambda n, link: json.dumps({"nodes": n, "links": link}), NODES, LINKS),
        st.text(max_size=100),
    )
)
def test_json_reader_fuzz_gives_a_fabric_or_a_named_error(text: str) -> None:
    try:
        fabric = fabric_from_json(text)
    except (MalformedFile, InvalidFabric) as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert fabric.num_gpus >= 1
