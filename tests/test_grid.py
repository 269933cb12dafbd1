"""The interop grid without Docker: its cell list, shards, compose files, expectations, document, merge and page."""

from __future__ import annotations

import json

import pytest
import yaml

from analysis.cli import main as cli
from analysis.render import gridpage
from lab import grid, peers


def _records(cells):
    out = []
    for p, s, c in cells:
        why = peers.absent(p, s, c)
        if why:
            out.append(grid.absent_record(p, s, c, why))
        else:
            r = grid._record(p, s, c, "")
            r.update(verdict="pass", figure_text="6 unprompted", page=f"{grid.cell_id(p, s, c)}.html")
            out.append(r)
    return out


def test_every_combination_is_a_cell_and_the_impossible_ones_say_why():
    cells = grid.all_cells()
    assert len(cells) == len(peers.PROTOCOLS) * len(peers.SERVERS) * len(peers.CLIENTS)
    assert peers.absent("websocket", "node", "chromium") is None
    assert peers.absent("grpc", "grpcjs", "node") is None
    assert "without WebSocket support" in peers.absent("websocket", "node", "curl")
    assert "has no grpc" in peers.absent("grpc", "apache", "node")
    assert "gRPC" in peers.absent("grpc", "grpcjs", "chromium")
    runnable = [c for c in cells if peers.absent(*c) is None]
    servers = {s for _, s, _ in runnable} - {"lab"}
    clients = {c for _, _, c in runnable} - {"lab"}
    assert len(servers - {"node-fault"}) >= 5 and len(clients - {"node-fault"}) >= 3


def test_cells_parse_and_bad_ones_are_one_sentence():
    assert grid.parse_cells("websocket/node/chromium sse/aiohttp/node") == [
        ("websocket", "node", "chromium"), ("sse", "aiohttp", "node")]
    for bad, said in (("websocket/node", "PROTOCOL/SERVER/CLIENT"), ("quic/node/node", "no protocol 'quic'"),
                      ("sse/nginx/node", "no server 'nginx'")):
        with pytest.raises(ValueError, match=said):
            grid.parse_cells(bad)


def test_shards_split_the_cells_into_disjoint_slices_that_cover_them():
    cells = grid.all_cells()
    slices = [grid.shard(cells, f"{i}/3") for i in (1, 2, 3)]
    assert sorted(x for s in slices for x in s) == sorted(cells)
    assert sum(len(s) for s in slices) == len(cells)
    assert grid.shard(cells, "2/3") == slices[1]  # deterministic
    for bad in ("0/2", "3/2", "x", "1/0"):
        with pytest.raises(ValueError, match="SHARD is I/N"):
            grid.shard(cells, bad)


def test_a_cells_compose_project_is_the_grids_own_and_publishes_nothing():
    lab = yaml.safe_load((grid.ROOT / "docker-compose.yml").read_text())
    spec = grid.compose_file("websocket", "node", "chromium", "websocket-node-chromium", link="slow")
    assert spec["name"] == "duplexlab-grid" != lab["name"]
    net, labnet = spec["networks"]["grid"], lab["networks"]["lab"]
    assert net["name"] != labnet["name"]
    assert net["driver_opts"] != labnet["driver_opts"] and net["ipam"] != labnet["ipam"]
    assert net["internal"] is True  # nothing a peer (a browser) sends can leave the grid's bridge
    for name, svc in spec["services"].items():
        assert "ports" not in svc, name
        assert svc["cap_drop"] == ["ALL"], name
    assert spec["services"]["capture"]["cap_add"] == ["NET_RAW", "NET_ADMIN"]
    assert spec["services"]["capture"]["network_mode"] == "service:server"
    assert spec["services"]["shaper"]["cap_add"] == ["NET_ADMIN"]
    assert spec["services"]["shaper"]["command"][2].startswith("tc qdisc add dev eth0 root tbf rate")
    assert "cap_add" not in spec["services"]["server"] and "cap_add" not in spec["services"]["client"]
    assert spec["services"]["client"]["environment"]["SSLKEYLOGFILE"] == "/keys/websocket-node-chromium.keys"
    assert spec["services"]["server"]["environment"]["TLS"] == "1"
    for svc in ("server", "client"):
        assert spec["services"][svc]["image"].startswith("duplexlab-grid-")
    assert "shaper" not in grid.compose_file("sse", "aiohttp", "node", "x")["services"]


def test_expectations_follow_what_the_client_asked_for():
    ids = {c: [e for e, _ in peers.expectations("h2push", c)] for c in peers.CLIENTS if "h2push" in
           peers.CLIENTS[c].protocols}
    assert ids["lab"] == ids["node"] == ["h2push.push-observed"]
    assert ids["curl"] == ids["chromium"] == []  # they send SETTINGS_ENABLE_PUSH=0: push is not expected
    assert [e for e, _ in peers.expectations("http1", "lab")] == ["http1.keep-alive", "http1.pipelined"]
    assert [e for e, _ in peers.expectations("http1", "curl")] == ["http1.keep-alive"]
    assert peers.fault("node", "node", "websocket") is None
    assert peers.fault("node-fault", "node", "websocket") == "websocket.server-frames-unmasked"
    assert peers.fault("node", "node-fault", "sse") == "sse.client-silent"


def test_http3_cells_listen_on_udp_log_keys_and_expect_push_only_from_the_client_that_allows_it(monkeypatch):
    lab = grid.compose_file("http3", "lab", "lab", "http3-lab-lab")["services"]
    assert "':01BB ' /proc/net/udp /proc/net/udp6" in lab["server"]["healthcheck"]["test"][1]
    assert lab["server"]["networks"]["grid"]["aliases"] == ["grid-server", "http3-server"]  # the certificate's name
    assert lab["client"]["environment"]["SSLKEYLOGFILE"] == "/keys/http3-lab-lab.keys"
    assert lab["client"]["environment"]["H3_PEER"] == "lab" and lab["client"]["environment"]["SERVER_PORT"] == "443"
    caddy = grid.compose_file("http3", "caddy", "lab", "http3-caddy-lab")["services"]
    assert "':20FB '" in caddy["server"]["healthcheck"]["test"][1] and caddy["server"]["command"][0] == "caddy"
    monkeypatch.setattr(grid, "lab_spki", lambda: "c3BraQ==")
    chromium = grid.compose_file("http3", "lab", "chromium", "http3-lab-chromium")["services"]["client"]
    assert chromium["environment"]["SPKI"] == "c3BraQ==" and chromium["environment"]["TLS_NAME"] == "http3-server"
    assert chromium["environment"]["SSLKEYLOGFILE"] == "/keys/http3-lab-chromium.keys"
    assert [e for e, _ in peers.expectations("http3", "lab", "lab")] == [
        "http3.multiplexed", "http3.streamed-response", "http3.push-observed"]
    assert [e for e, _ in peers.expectations("http3", "chromium", "lab")] == [  # no MAX_PUSH_ID from Chromium
        "http3.multiplexed", "http3.streamed-response"]
    assert peers.expectations("http3", "lab", "caddy") == ()  # one DATA frame per answer, no push
    assert "without HTTP/3" in peers.absent("http3", "caddy", "curl")
    assert "no QUIC" in peers.absent("http3", "lab", "node")
    assert peers.absent("http3", "lab", "chromium") is None and peers.absent("http3", "caddy", "chromium") is None
    assert "has no http3" in peers.absent("http3", "apache", "lab")
    m = {"requests": 6, "connections": 2, "unprompted_server_messages": 1, "http3": {"streams_opened": {"server": {
        "control": 2, "qpack-encoder": 2, "qpack-decoder": 2, "push": 1}}}}
    assert grid.figure_text("http3", m) == "6 req / 2 conn; server streams: control 2, QPACK 4, push 1; 1 unprompted"


def test_merging_two_slices_gives_the_document_of_one_run():
    cells = grid.parse_cells("websocket/node/chromium websocket/node/curl sse/aiohttp/node grpc/grpcjs/node "
                             "h2push/apache/chromium")
    whole = gridpage.document(_records(cells), grid.AXES, {"link": ""})
    parts = [gridpage.document(_records(grid.shard(cells, f"{i}/2")), grid.AXES, {"link": "", "shard": f"{i}/2"})
             for i in (1, 2)]
    assert gridpage.merge(parts) == whole
    assert gridpage.merge(list(reversed(parts))) == whole
    with pytest.raises(gridpage.GridError, match="ran in two slices"):
        gridpage.merge([parts[0], parts[0]])
    other = gridpage.document(_records(cells[:1]), grid.AXES, {"link": "slow"})
    with pytest.raises(gridpage.GridError, match="different grids"):
        gridpage.merge([parts[0], other])


def test_the_page_shows_every_ran_cell_and_marks_the_impossible_ones():
    cells = grid.parse_cells("websocket/node/chromium websocket/node/curl websocket/node-fault/node")
    recs = _records(cells)
    recs[2].update(verdict="caught", fault="websocket.server-frames-unmasked",
                   findings=[{"invariant": "websocket.server-frames-unmasked", "status": "violated",
                              "detail": "masked <frame>", "kind": "protocol", "frames": [7]}])
    page = gridpage.render(gridpage.document(recs, grid.AXES))
    assert page.count("href='websocket-node-chromium.html'") == 1
    assert "title='the curl client has no websocket" in page
    assert "masked &lt;frame&gt;" in page and "<script" not in page


def test_grid_merge_on_the_command_line(tmp_path, capsys):
    cells = grid.parse_cells("websocket/node/chromium sse/aiohttp/node")
    files = []
    for i in (1, 2):
        doc = gridpage.document(_records(grid.shard(cells, f"{i}/2")), grid.AXES, {"link": ""})
        files.append(tmp_path / f"g{i}.json")
        files[-1].write_text(json.dumps(doc))
    out = tmp_path / "grid.json"
    assert cli(["grid", "merge", *map(str, files), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == gridpage.document(_records(cells), grid.AXES, {"link": ""})
    assert (tmp_path / "grid.html").read_text().startswith("<!doctype html>")
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    assert cli(["grid", "merge", str(tmp_path / "bad.json"), "-o", str(out)]) == 2
    assert "not a duplexlab grid document" in capsys.readouterr().err
    assert cli(["grid", "merge", str(tmp_path / "missing.json"), "-o", str(out)]) == 2


def test_a_link_without_netem_is_refused_in_one_sentence(monkeypatch):
    class Failed:
        returncode, stderr = 2, "Error: Specified qdisc kind is unknown.\n"

    monkeypatch.setattr(grid.subprocess, "run", lambda *a, **k: Failed())
    why = grid.refuse_link("delay")
    assert why.startswith("LINK=delay needs tc's netem qdisc") and "Specified qdisc kind is unknown" in why
    assert grid.refuse_link("slow") is None
    assert "not a link the grid has" in grid.refuse_link("jitter")
    assert grid.main(["--cells", "websocket/node"]) == 2


def test_the_readme_table_written_from_a_grid_reads_back_as_its_verdicts():
    from tests.e2e.test_grid import parse_table

    cells = grid.parse_cells("websocket/node/chromium websocket/node/node websocket/node-fault/lab sse/aiohttp/node")
    recs = _records(cells)
    recs[2].update(verdict="caught")
    doc = gridpage.document(recs, grid.AXES)
    assert parse_table(grid.markdown(doc)) == {f"{p}/{s}/{c}": {r["verdict"]} for (p, s, c), r in zip(cells, recs,
                                                                                                        strict=True)}


def test_through_a_proxy_the_capture_sits_in_the_proxys_namespace_and_the_client_talks_to_it():
    spec = grid.compose_file("sse", "node", "curl", "sse-node-curl-nginx", via="nginx")
    proxy = spec["services"]["proxy"]
    assert proxy["image"].startswith("duplexlab-grid-") and proxy["environment"] == {
        "VIA": "nginx", "UPSTREAM": "grid-server:8080"}
    assert "ports" not in proxy and proxy["cap_drop"] == ["ALL"]
    assert spec["services"]["capture"]["network_mode"] == "service:proxy"
    assert "grid-proxy:8080" in " ".join(spec["services"]["client"]["command"])
    assert grid.cell_id("sse", "node", "curl", "nginx") == "sse-node-curl-nginx"
    assert "cannot carry socketio" in peers.via_absent("socketio", "node", "nginx")
    assert "Chromium over TLS" in peers.via_absent("sse", "chromium", "haproxy")
    assert peers.via_absent("h2push", "node", "haproxy") is None
    assert grid.main(["--via", "squid"]) == 2
