"""Read and write fabrics: networkx node-link JSON and NCCL topology XML.

JSON: ``{"nodes": [{"id": ..., "kind": ...}], "links": [{"source", "target", "bandwidth",
"latency"}]}`` (networkx's node-link format; ``"edges"`` is accepted for ``"links"``).

XML: NCCL's topology format (as ``src/graph/topo.cc`` parses it), both hand-written
``NCCL_TOPO_FILE`` PCIe trees and ``NCCL_TOPO_DUMP_FILE`` dumps:

- ``<system version="1">`` holds ``<cpu numaid= host_hash= arch= ...>`` (one per NUMA node;
  CPUs with the same ``host_hash`` are one host, joined by an inter-socket link);
- ``<pci busid= class= link_speed= link_width=>`` nests: class ``0x0604xx`` is a PCIe switch,
  ``0x03xxxx`` a GPU (``0x0302xx`` 3D controller), ``0x02xxxx`` a NIC (``0x0207xx`` InfiniBand,
  ``0x0200xx`` Ethernet), ``0x068000`` an NVSwitch; a ``pci`` with a ``<nic>`` child is a NIC.
  PCIe bandwidth is NCCL's: ``link_width * per-lane speed / 80`` GB/s (Gen4 x16: 24 GB/s);
  a missing width counts as 16 lanes and an unknown speed as 60 (NCCL's own fallbacks);
- ``<gpu dev= sm= rank=>`` inside a GPU's ``pci`` lists ``<nvlink target= count= tclass=>``:
  to a GPU (``0x03...``), an NVSwitch (``0x068000``) or a CPU (``0x068001``); one NVLink
  carries 25 GB/s each way (50 GB/s from sm 100, Blackwell; 20 GB/s below sm 70);
- ``<nic>`` (inside a ``pci`` or directly under ``cpu``) holds ``<net name= dev= speed=>``
  with ``speed`` in Mb/s. When the file holds several hosts, their NICs meet at one switch.

Parsing uses defusedxml with DTDs refused, so entity expansion ("billion laughs") and external
entities never run; the file size and element count are capped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml
import defusedxml.ElementTree as SafeET
import networkx as nx

from qnvlink.errors import MalformedFile
from qnvlink.fabric import NODE_KINDS, Fabric

__all__ = [
    "fabric_from_json",
    "fabric_from_xml",
    "fabric_to_json",
    "fabric_to_xml",
    "read_fabric",
    "write_fabric",
]

MAX_BYTES = 64 * 2**20
MAX_ELEMENTS = 200_000
PCI_GEN = {  # NCCL's kvDictPciGen: 100 Mb/s per lane
    "2.5 GT/s": 15, "5 GT/s": 30, "8 GT/s": 60, "16 GT/s": 120, "32 GT/s": 240,
    "2.5 GT/s PCIe": 15, "5.0 GT/s PCIe": 30, "8.0 GT/s PCIe": 60, "16.0 GT/s PCIe": 120,
    "32.0 GT/s PCIe": 240, "64.0 GT/s PCIe": 480,
}  # fmt: skip
LOC_BW = 5000.0  # NCCL's LOC_BW: a NIC directly under its CPU
LAT = 0.5e-6


def _read_text(path: str | Path) -> str:
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise MalformedFile(f"{p}: is {size} bytes; fabric files above {MAX_BYTES} are refused.")
    data = p.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"{p}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None


def read_fabric(path: str | Path, fmt: str | None = None) -> Fabric:
    """Load a fabric from node-link JSON or NCCL topology XML (by suffix, or ``fmt``)."""
    p = Path(path)
    kind = fmt or ("xml" if p.suffix.lower() == ".xml" else "json")
    if kind not in ("xml", "json"):
        raise MalformedFile(f"fmt: is {fmt!r}; use 'json' or 'xml'.")
    text = _read_text(p)
    if kind == "xml":
        return fabric_from_xml(text, name=p.stem)
    return fabric_from_json(text, name=p.stem)


def write_fabric(fabric: Fabric, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``fabric`` as node-link JSON or NCCL topology XML (by suffix, or ``fmt``)."""
    p = Path(path)
    kind = fmt or ("xml" if p.suffix.lower() == ".xml" else "json")
    if kind == "xml":
        p.write_text(fabric_to_xml(fabric))
    elif kind == "json":
        p.write_text(json.dumps(fabric_to_json(fabric), indent=1))
    else:
        raise MalformedFile(f"fmt: is {fmt!r}; use 'json' or 'xml'.")
    return p


# --------------------------------------------------------------------------- JSON


def fabric_to_json(fabric: Fabric) -> dict[str, Any]:
    data = nx.node_link_data(fabric.graph, edges="links")
    data["graph"] = {"name": fabric.name}
    return data


def _node_id(value: object, field: str) -> Hashable:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedFile(
            f"{field}: expected a string or integer id, got {type(value).__name__}."
        )
    return value


def fabric_from_json(text: str, name: str = "fabric") -> Fabric:
    """A fabric from node-link JSON text (``links`` or ``edges``)."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedFile("json: nested too deeply; a fabric file is two levels deep.") from None
    except MalformedFile:
        raise
    except ValueError as exc:  # bad JSON, or an integer beyond Python's digit limit
        raise MalformedFile(f"json: not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise MalformedFile(
            f"json: expected an object with 'nodes' and 'links', got {type(data).__name__}."
        )
    nodes = data.get("nodes")
    links = data.get("links", data.get("edges"))
    if not isinstance(nodes, list):
        raise MalformedFile("nodes: missing or not a list; node-link JSON has a 'nodes' list.")
    if not isinstance(links, list):
        raise MalformedFile("links: missing or not a list; give a 'links' (or 'edges') list.")
    graph = nx.Graph()
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node:
            raise MalformedFile(f"nodes[{i}]: expected an object with an 'id'.")
        nid = _node_id(node["id"], f"nodes[{i}].id")
        if nid in graph:
            raise MalformedFile(f"nodes[{i}].id: {nid!r} appears twice; ids must be unique.")
        kind = node.get("kind")
        if kind not in NODE_KINDS:
            raise MalformedFile(
                f"nodes[{i}].kind: is {kind!r}; use one of {', '.join(NODE_KINDS)}."
            )
        attrs = {k: v for k, v in node.items() if k != "id"}
        if kind == "gpu":
            _check_gpu_attrs(attrs, f"nodes[{i}]")
        graph.add_node(nid, **attrs)
    for i, link in enumerate(links):
        field = f"links[{i}]"
        if not isinstance(link, dict) or "source" not in link or "target" not in link:
            raise MalformedFile(f"{field}: expected an object with 'source' and 'target'.")
        u = _node_id(link["source"], f"{field}.source")
        v = _node_id(link["target"], f"{field}.target")
        for end, key in ((u, "source"), (v, "target")):
            if end not in graph:
                raise MalformedFile(f"{field}.{key}: {end!r} is not a node id.")
        if graph.has_edge(u, v):
            raise MalformedFile(f"{field}: a second link {u!r}-{v!r}; merge parallel links.")
        if "bandwidth" not in link:
            raise MalformedFile(f"{field}.bandwidth: missing; give GB/s per direction.")
        attrs = {k: val for k, val in link.items() if k not in ("source", "target", "key")}
        graph.add_edge(u, v, **attrs)
    meta = data.get("graph")
    title = str(meta.get("name", name)) if isinstance(meta, dict) else name
    return Fabric(graph, name=title)


def _refuse_constant(value: str) -> float:
    raise MalformedFile(f"json: {value} is not a number; bandwidths and latencies are finite.")


def _check_gpu_attrs(attrs: dict[str, Any], field: str) -> None:
    dev = attrs.get("dev")
    if dev is not None and (isinstance(dev, bool) or not isinstance(dev, int) or dev < 0):
        raise MalformedFile(f"{field}.dev: is {dev!r}; use a CUDA device index >= 0.")
    domain = attrs.get("domain")
    if domain is not None and (
        not isinstance(domain, list) or not all(isinstance(x, (str, int)) for x in domain)
    ):
        raise MalformedFile(f"{field}.domain: is {domain!r}; use a list of group names.")
    for key in ("host",):
        if key in attrs and not isinstance(attrs[key], (str, int)):
            raise MalformedFile(f"{field}.{key}: expected a string.")


# --------------------------------------------------------------------------- XML read


def _parse_xml(text: str) -> Element:
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as exc:
        raise MalformedFile(
            f"xml: DTD/entity declarations are refused ({type(exc).__name__}); NCCL topology "
            "files have none."
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise MalformedFile("xml: external references are refused.") from None
    except ParseError as exc:
        raise MalformedFile(f"xml: not well-formed ({exc}).") from None
    count = sum(1 for _ in root.iter())
    if count > MAX_ELEMENTS:
        raise MalformedFile(f"xml: {count} elements; more than {MAX_ELEMENTS} are refused.")
    return root


def _int(el: Element, attr: str, where: str, default: int | None = None, base: int = 0) -> int:
    raw = el.get(attr)
    if raw is None:
        if default is None:
            raise MalformedFile(f"{where}.{attr}: missing.")
        return default
    try:
        return int(raw.strip(), base)
    except ValueError:
        raise MalformedFile(f"{where}.{attr}: is {raw!r}; expected an integer.") from None


_BUSID = re.compile(r"^[0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-9a-fA-F]$")


def _busid(el: Element, where: str) -> str:
    raw = el.get("busid")
    if raw is None or not _BUSID.match(raw.strip()):
        raise MalformedFile(f"{where}.busid: is {raw!r}; expected a PCI bus id like 0000:17:00.0.")
    return raw.strip().lower()


def _class(el: Element, where: str, attr: str = "class") -> int:
    raw = el.get(attr)
    if raw is None or not re.fullmatch(r"0x[0-9a-fA-F]{1,6}", raw.strip()):
        raise MalformedFile(f"{where}.{attr}: is {raw!r}; expected a PCI class like 0x030200.")
    return int(raw, 16)


def _pci_bw(el: Element, where: str) -> float:
    width = _int(el, "link_width", where, default=16)
    if width < 0:
        raise MalformedFile(f"{where}.link_width: is {width}; expected lanes >= 0.")
    width = width or 16  # NCCL: 0 when /sys did not say
    speed = PCI_GEN.get((el.get("link_speed") or "").strip(), 60)
    return width * speed / 80.0


def _nvlink_gbs(sm: int) -> float:
    if sm >= 100:
        return 50.0
    if sm >= 70:
        return 25.0
    return 20.0


class _XmlReader:
    def __init__(self) -> None:
        self.graph = nx.Graph()
        self.gpu_els: list[tuple[str, Element, str]] = []  # node, gpu element, where
        self.busid_node: dict[tuple[str, str], str] = {}
        self.nets: list[str] = []
        self.host_cpus: dict[str, list[str]] = {}

    def add_edge(self, u: str, v: str, bw: float, kind: str) -> None:
        if self.graph.has_edge(u, v):
            data = self.graph.edges[u, v]
            data["bandwidth"] = max(data["bandwidth"], bw)
        else:
            self.graph.add_edge(u, v, bandwidth=bw, latency=LAT, type=kind)

    def read(self, root: Element) -> nx.Graph:
        if root.tag != "system":
            raise MalformedFile(
                f"xml: the root element is <{root.tag}>; NCCL topology files start with <system>."
            )
        cpus = [c for c in root if c.tag == "cpu"]
        if not cpus:
            raise MalformedFile(
                "system: has no <cpu> element; each NUMA node is a <cpu numaid=...>."
            )
        for i, cpu in enumerate(cpus):
            where = f"system/cpu[{i}]"
            numa = _int(cpu, "numaid", where, default=i)
            host = (cpu.get("host_hash") or "host0").strip()
            node = f"{host}/cpu{numa}"
            if node in self.graph:
                raise MalformedFile(f"{where}.numaid: {numa} appears twice on host {host!r}.")
            self.graph.add_node(node, kind="cpu", host=host, numaid=numa, arch=cpu.get("arch", ""))
            for other in self.host_cpus.setdefault(host, []):
                self.add_edge(node, other, 64.0, "sys")
            self.host_cpus[host].append(node)
            for j, child in enumerate(cpu):
                if child.tag == "pci":
                    self.pci(child, node, host, node, f"{where}/pci[{j}]")
                elif child.tag == "nic":
                    self.nic(child, node, host, node, LOC_BW, f"{where}/nic[{j}]")
        for gpu, el, where in self.gpu_els:
            self.nvlinks(gpu, el, where)
        if len(self.host_cpus) > 1 and self.nets:
            self.graph.add_node("net/switch", kind="switch")
            for net in self.nets:
                self.add_edge(net, "net/switch", self.graph.nodes[net]["speed_gbs"], "net")
        return self.graph

    def pci(self, el: Element, parent: str, host: str, numa: str, where: str) -> None:
        busid = _busid(el, where)
        cls = _class(el, where)
        bw = _pci_bw(el, where)
        nic = el.find("nic")
        if nic is not None:
            node = f"{host}/pci{busid}"
            self.graph.add_node(node, kind="pci", host=host, busid=busid)
            self.add_edge(node, parent, bw, "pcie")
            self.nic(nic, node, host, numa, bw, f"{where}/nic")
            return
        major = cls >> 16
        if cls >> 8 == 0x0680:
            node = f"{host}/nvswitch{busid}"
            self.graph.add_node(
                node, kind="nvswitch", host=host, busid=busid, plane_group=f"{host}/nvswitch"
            )
            self.busid_node[(host, busid)] = node
            self.add_edge(node, parent, bw, "pcie")
            return
        if major == 0x03:
            node = f"{host}/gpu{busid}"
            gpu_el = el.find("gpu")
            attrs: dict[str, Any] = {"busid": busid, "numa": numa, "host": host}
            if gpu_el is not None:
                attrs["dev"] = _int(gpu_el, "dev", f"{where}/gpu", default=len(self.gpu_els))
                attrs["sm"] = _int(gpu_el, "sm", f"{where}/gpu", default=90)
                if attrs["dev"] < 0:
                    raise MalformedFile(f"{where}/gpu.dev: is {attrs['dev']}; expected >= 0.")
                self.gpu_els.append((node, gpu_el, f"{where}/gpu"))
            else:
                attrs["dev"] = sum(
                    1
                    for _, d in self.graph.nodes(data=True)
                    if d["kind"] == "gpu" and d["host"] == host
                )
            self.graph.add_node(node, kind="gpu", domain=[host], **attrs)
            self.busid_node[(host, busid)] = node
            self.add_edge(node, parent, bw, "pcie")
            return
        if major == 0x02:
            node = f"{host}/nic{busid}"
            self.graph.add_node(node, kind="nic", host=host, busid=busid, speed_mbps=0)
            self.add_edge(node, parent, bw, "pcie")
            self.nets.append(node)
            self.graph.nodes[node]["speed_gbs"] = bw
            return
        node = f"{host}/pci{busid}"
        if node in self.graph:
            raise MalformedFile(f"{where}.busid: {busid} appears twice on host {host!r}.")
        self.graph.add_node(node, kind="pci", host=host, busid=busid)
        self.add_edge(node, parent, bw, "pcie")
        for j, child in enumerate(el):
            if child.tag == "pci":
                self.pci(child, node, host, numa, f"{where}/pci[{j}]")

    def nic(self, el: Element, parent: str, host: str, numa: str, bw: float, where: str) -> None:
        for j, net in enumerate(el):
            if net.tag != "net":
                continue
            w = f"{where}/net[{j}]"
            dev = _int(net, "dev", w)
            speed = _int(net, "speed", w, default=10000)
            if speed <= 0:
                speed = 10000  # NCCL: "Some NICs define speed = -1"
            node = f"{host}/net{dev}"
            if node in self.graph:
                raise MalformedFile(f"{w}.dev: {dev} appears twice on host {host!r}.")
            self.graph.add_node(
                node, kind="nic", host=host, dev=dev, speed_mbps=speed, numa=numa,
                name=net.get("name", f"net{dev}"), speed_gbs=speed / 8000.0,
            )  # fmt: skip
            self.add_edge(node, parent, bw, "pcie")
            self.nets.append(node)

    def nvlinks(self, gpu: str, el: Element, where: str) -> None:
        data = self.graph.nodes[gpu]
        host = data["host"]
        per_link = _nvlink_gbs(data["sm"])
        for j, link in enumerate(el):
            if link.tag != "nvlink":
                continue
            w = f"{where}/nvlink[{j}]"
            count = _int(link, "count", w, default=1)
            if count < 1 or count > 64:
                raise MalformedFile(f"{w}.count: is {count}; expected 1..64 links.")
            tclass = _class(link, w, "tclass")
            target = _busid(_Attr(link.get("target")), w.replace(".busid", "") + ".target")
            bw = count * per_link
            if tclass == 0x068001:
                self.add_edge(gpu, data["numa"], bw, "nvlink")
            elif tclass >> 8 == 0x0680:
                node = self.busid_node.get((host, target))
                if node is None:
                    node = f"{host}/nvswitch{target}"
                    self.graph.add_node(
                        node,
                        kind="nvswitch",
                        host=host,
                        busid=target,
                        plane_group=f"{host}/nvswitch",
                    )
                    self.busid_node[(host, target)] = node
                self.add_edge(gpu, node, bw, "nvlink")
            elif tclass >> 16 == 0x03:
                other = self.busid_node.get((host, target))
                if other is None or self.graph.nodes[other]["kind"] != "gpu":
                    raise MalformedFile(
                        f"{w}.target: {target} is not a GPU bus id on host {host!r}."
                    )
                self.add_edge(gpu, other, bw, "nvlink")
            else:
                raise MalformedFile(
                    f"{w}.tclass: is {link.get('tclass')!r}; expected a GPU (0x03xxxx), "
                    "NVSwitch (0x068000) or CPU (0x068001)."
                )


class _Attr:
    """Adapts one attribute value to :func:`_busid`'s element interface."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def get(self, _: str) -> str | None:
        return self.value


def fabric_from_xml(text: str, name: str = "fabric") -> Fabric:
    """A fabric from NCCL topology XML text."""
    graph = _XmlReader().read(_parse_xml(text))
    for _, d in graph.nodes(data=True):
        d.pop("speed_gbs", None)
    return Fabric(graph, name=name)


# --------------------------------------------------------------------------- XML write


def _speed_width(bandwidth: float) -> tuple[str, int]:
    """A PCIe speed string and lane count whose NCCL bandwidth is nearest ``bandwidth``."""
    best = min(
        (
            (s, w)
            for s in ("8.0 GT/s PCIe", "16.0 GT/s PCIe", "32.0 GT/s PCIe", "64.0 GT/s PCIe")
            for w in (4, 8, 16)
        ),
        key=lambda sw: abs(math.log(PCI_GEN[sw[0]] * sw[1] / 80.0 / bandwidth)),
    )
    return best


def _domains(fabric: Fabric) -> dict[Hashable, str]:
    """Host hash of every node: GPUs sharing an NVSwitch form one NVLink domain (one system)."""
    graph = fabric.graph
    union = nx.utils.UnionFind()
    for g in fabric.gpus:
        union[graph.nodes[g]["host"]]
    for n, d in graph.nodes(data=True):
        if d["kind"] == "nvswitch":
            hosts = {
                graph.nodes[m]["host"]
                for m in graph.neighbors(n)
                if graph.nodes[m]["kind"] == "gpu"
            }
            if hosts:
                union.union(*hosts)
    hashes: dict[Hashable, str] = {}
    roots: dict[Hashable, str] = {}
    for n, d in graph.nodes(data=True):
        host = d.get("host")
        if host is None:
            continue
        root = union[host]
        hashes[n] = roots.setdefault(root, f"0x{len(roots) + 1:x}")
    return hashes


def fabric_to_xml(fabric: Fabric) -> str:
    """NCCL topology XML of ``fabric`` (the hosts' PCIe trees, NVLinks and NICs)."""
    graph = fabric.graph
    hashes = _domains(fabric)
    root = Element("system", version="1")
    busids: dict[Hashable, str] = {}
    counter = [0]

    def busid(n: Hashable) -> str:
        if n not in busids:
            counter[0] += 1
            busids[n] = f"{counter[0] // 256:04x}:{counter[0] % 256:02x}:00.0"
        return busids[n]

    visited: set[Hashable] = set()

    def emit(node: Hashable, parent_el: Element, up: Hashable) -> None:
        visited.add(node)
        d = graph.nodes[node]
        speed, width = _speed_width(graph.edges[node, up]["bandwidth"])
        attrs = {"busid": busid(node), "link_speed": speed, "link_width": str(width)}
        if d["kind"] == "gpu":
            el = SubElement(parent_el, "pci", attrs, **{"class": "0x030200"})
            gpu = SubElement(
                el, "gpu", dev=str(d.get("dev", 0)), sm=str(d.get("sm", 90)),
                rank=str(fabric.gpu_index[node]), gdr="1",
            )  # fmt: skip
            for m in graph.neighbors(node):
                e = graph.edges[node, m]
                md = graph.nodes[m]
                if e.get("type") == "nvlink" and md["kind"] in ("gpu", "nvswitch"):
                    count = max(1, round(e["bandwidth"] / _nvlink_gbs(int(d.get("sm", 90)))))
                    tclass = "0x030200" if md["kind"] == "gpu" else "0x068000"
                    SubElement(gpu, "nvlink", target=busid(m), count=str(count), tclass=tclass)
                elif md["kind"] == "nic" and m not in visited:
                    nic_parent = parent_el
                    visited.add(m)
                    emit_nic(m, nic_parent, e["bandwidth"])
            return
        if d["kind"] == "nic":
            emit_nic(node, parent_el, graph.edges[node, up]["bandwidth"])
            return
        if d["kind"] != "pci":
            return
        el = SubElement(parent_el, "pci", attrs, **{"class": "0x060400"})
        for m in graph.neighbors(node):
            if m not in visited and graph.nodes[m]["kind"] in ("pci", "gpu", "nic"):
                emit(m, el, node)

    def emit_nic(node: Hashable, parent_el: Element, bandwidth: float) -> None:
        d = graph.nodes[node]
        speed, width = _speed_width(bandwidth)
        el = SubElement(
            parent_el,
            "pci",
            busid=busid(node),
            link_speed=speed,
            link_width=str(width),
            **{"class": "0x020700"},
        )
        nic = SubElement(el, "nic")
        host = hashes.get(node, "0x0")
        dev = net_devs.setdefault(host, 0)
        net_devs[host] += 1
        SubElement(
            nic,
            "net",
            name=f"mlx5_{dev}",
            dev=str(dev),
            speed=str(int(d.get("speed_mbps", 400000))),
            port="1",
            gdr="1",
        )

    numas: dict[str, int] = {}
    net_devs: dict[str, int] = {}
    for n, d in graph.nodes(data=True):
        if d["kind"] != "cpu":
            continue
        host = hashes.get(n, "0x0")
        numaid = numas.setdefault(host, 0)
        numas[host] += 1
        cpu_el = SubElement(
            root, "cpu", numaid=str(numaid), host_hash=host, arch=str(d.get("arch") or "x86_64")
        )
        visited.add(n)
        for m in graph.neighbors(n):
            if m not in visited and graph.nodes[m]["kind"] in ("pci", "gpu", "nic"):
                emit(m, cpu_el, n)
    for g in fabric.gpus:
        if g not in visited:  # a GPU reachable only by NVLink: hang it from a virtual CPU
            cpu_el = SubElement(
                root, "cpu", numaid=str(len(root)), host_hash=hashes.get(g, "0x0"), arch="x86_64"
            )
            el = SubElement(
                cpu_el,
                "pci",
                busid=busid(g),
                link_speed="32.0 GT/s PCIe",
                link_width="16",
                **{"class": "0x030200"},
            )
            SubElement(
                el,
                "gpu",
                dev=str(graph.nodes[g].get("dev", 0)),
                sm="90",
                rank=str(fabric.gpu_index[g]),
                gdr="1",
            )
    return tostring(root, encoding="unicode")
