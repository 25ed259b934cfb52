"""Every role's everyday work from the command line, against real TLS node processes (issue 18):
a manufacturer commissions, aggregates and ships; a distributor receives (its node pulls the
shipment) and returns; a lot is recalled; each with --json for machines and one error line for
people (a refused step, a bad token, a node that is down, http:// to an HTTPS node)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keys.tls import NodeTlsFiles
from ledger.identifiers import container_uri, pack_uri, with_check_digit
from node.localnet.processes import free_port
from tests.tls.conftest import GTIN, init_tls_nodes, running, tls_consortium

MEDTRACE = str(Path(sys.executable).with_name("medtrace"))
PREFIX = "4012345"
LOT = "L2607"
EXPIRY = "2030-12-31"
BAD_TOKEN = "mt_" + "A" * 43


def sscc(n: int) -> str:
    return with_check_digit("0" + PREFIX + f"{n:09d}")


@dataclass
class Site:
    """One organisation's node as its people use it: a URL, an operator token in a file, the
    consortium's CA, and a profile file of its own."""

    name: str
    url: str
    token_file: Path
    ca: Path
    profile: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return medtrace(*args, env={"MEDTRACE_PROFILE": str(self.profile), **(env or {})})

    def profile_set(self, node: str | None = None) -> tuple[str, ...]:
        """The words of ``profile set`` with this site's node (or ``node``), token file and CA."""
        return (
            "profile", "set", "--node", node or self.url, "--token-file", str(self.token_file),
            "--ca", str(self.ca),
        )  # fmt: skip

    def set_profile(self) -> subprocess.CompletedProcess[str]:
        self.profile.unlink(missing_ok=True)
        done = self.run(*self.profile_set(), "--yes")
        assert done.returncode == 0, done.stderr
        return done


@dataclass
class World:
    root: Path
    genesis: str
    acme: Site
    dist: Site


def medtrace(
    *args: str, env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDTRACE_")}
    return subprocess.run(
        [MEDTRACE, *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "400", **(env or {})},
        timeout=180,
        check=False,
    )


def commission(lot: str, count: int, *extra: str) -> tuple[str, ...]:
    """The words of ``medtrace commission`` of ``count`` packs of ``lot`` of GTIN."""
    return (
        "commission", "--gtin", GTIN, "--lot", lot, "--expiry", EXPIRY, "--count", str(count),
        *extra,
    )  # fmt: skip


def one_object(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout
    value = json.loads(result.stdout)
    assert isinstance(value, dict)
    return value


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's one ``error:`` line on stderr (nothing else, no traceback)."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("roles")
    consortium = tls_consortium(root)
    nodes, tokens = init_tls_nodes(root, consortium, ["acme", "dist"], "granian")
    sites = {}
    for name, node in nodes.items():
        token_file = root / f"{name}.token"
        token_file.write_text(tokens[name]["operator"] + "\n")
        token_file.chmod(0o600)
        ca = NodeTlsFiles.in_dir(node.data).ca
        sites[name] = Site(name, node.url, token_file, ca, root / f"{name}-profile.json")
    with running(nodes):
        yield World(root, consortium.genesis_id, sites["acme"], sites["dist"])


# -- the profile -----------------------------------------------------------------------------------


def test_profile_set_pins_the_genesis_after_showing_its_fingerprint(world: World) -> None:
    acme = world.acme
    result = acme.set_profile()
    fingerprint = " ".join(world.genesis[i : i + 4] for i in range(0, 16, 4))
    assert world.genesis in result.stderr
    assert fingerprint in result.stderr
    assert "mTLS tests" in result.stderr  # the consortium's name, from the verified genesis
    stored = json.loads(acme.profile.read_text())
    assert stored["genesis"] == world.genesis
    assert stored["node"] == acme.url
    assert acme.profile.stat().st_mode & 0o777 == 0o600


def test_profile_set_without_a_terminal_or_yes_pins_nothing(world: World) -> None:
    profile = world.root / "unconfirmed.json"
    result = medtrace(*world.acme.profile_set(), env={"MEDTRACE_PROFILE": str(profile)})
    assert "expected --yes" in one_error_line(result)
    assert not profile.exists()


def test_profile_show_never_prints_the_token(world: World) -> None:
    world.acme.set_profile()
    token = world.acme.token_file.read_text().strip()
    shown = world.acme.run("profile", "show")
    as_json = one_object(world.acme.run("profile", "show", "--json"))
    assert token not in shown.stdout + shown.stderr
    assert token not in json.dumps(as_json)
    assert f"…{token[-4:]}" in shown.stdout
    assert set(as_json) == {"path", "node", "token", "ca", "genesis", "genesis_fingerprint"}
    assert as_json["genesis"] == world.genesis
    assert str(as_json["token"]).startswith(f"…{token[-4:]} (fingerprint ")


def test_profile_clear_removes_the_file(world: World) -> None:
    world.acme.set_profile()
    assert one_object(world.acme.run("profile", "clear", "--json"))["removed"] is True
    assert not world.acme.profile.exists()
    assert "no profile at" in one_error_line(world.acme.run("profile", "show"))
    world.acme.set_profile()


def test_profile_lives_under_xdg_config_home(world: World, tmp_path: Path) -> None:
    result = medtrace(*world.acme.profile_set(), "--yes", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    path = tmp_path / "medtrace" / "profile.json"
    assert json.loads(path.read_text())["genesis"] == world.genesis
    assert path.stat().st_mode & 0o777 == 0o600


def test_genesis_is_pinned_on_first_use_when_the_node_was_down(world: World) -> None:
    """profile set against a node that cannot be reached keeps no genesis; the first command
    shows it with its fingerprint, asks on the terminal, and pins it."""
    profile = world.root / "first-use.json"
    down = f"https://127.0.0.1:{free_port()}"
    env = {"MEDTRACE_PROFILE": str(profile)}
    saved = medtrace(*world.acme.profile_set(down), env=env)
    assert saved.returncode == 0, saved.stderr
    assert "genesis not pinned yet" in saved.stderr
    stored = json.loads(profile.read_text())
    assert "genesis" not in stored
    stored["node"] = world.acme.url  # the node is up now
    profile.write_text(json.dumps(stored))
    without_terminal = medtrace("show", sscc(999), env=env)
    assert "expected --yes" in one_error_line(without_terminal)
    answered = _with_terminal(["pull", "--json"], env, "y\n")
    assert answered.returncode == 0, answered.stderr
    assert " ".join(world.genesis[i : i + 4] for i in range(0, 16, 4)) in answered.stderr
    assert json.loads(profile.read_text())["genesis"] == world.genesis


def _with_terminal(
    args: list[str], env: dict[str, str], typed: str
) -> subprocess.CompletedProcess[str]:
    """``medtrace args`` with a terminal on stdin on which ``typed`` is typed."""
    import pty  # noqa: PLC0415 (POSIX only)

    leader, follower = pty.openpty()
    try:
        os.write(leader, typed.encode())
        return medtrace(*args, env=env, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)


def test_a_node_of_another_consortium_is_refused(world: World) -> None:
    result = world.acme.run("pull", "--genesis", "0" * 64)
    line = one_error_line(result)
    assert "a node of another consortium" in line
    assert world.genesis[:16] in line


# -- the manufacturer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped(world: World) -> dict[str, object]:
    """acme commissions 30 packs (serials to a file), packs them into a case, ships it to dist."""
    acme = world.acme
    acme.set_profile()
    serials = world.root / "serials.txt"
    made = one_object(acme.run(*commission(LOT, 30, "--out", str(serials), "--json")))
    case = sscc(1)
    packed = one_object(
        acme.run("aggregate", case, "--gtin", GTIN, "--file", str(serials), "--json")
    )
    sent = one_object(acme.run("ship", case, "--to", "dist", "--json"))
    return {"made": made, "packed": packed, "sent": sent, "case": case, "serials": serials}


def test_manufacturer_commissions_aggregates_and_ships(
    world: World, shipped: dict[str, object]
) -> None:
    made, packed, sent = shipped["made"], shipped["packed"], shipped["sent"]
    assert isinstance(made, dict)
    assert isinstance(packed, dict)
    assert isinstance(sent, dict)
    assert set(made) == {"gtin", "lot", "expiry", "count", "serials", "entries", "out", "node"}
    assert made["count"] == 30
    assert len(set(made["serials"])) == 30
    serials = Path(str(shipped["serials"])).read_text().split()
    assert serials == made["serials"]
    case = container_uri(str(shipped["case"]))
    assert set(packed) == {"kind", "entry", "subjects", "refs", "body", "node"}
    assert packed["kind"] == "pack"
    assert packed["subjects"] == [case, *(pack_uri(GTIN, s) for s in serials)]
    assert sent["kind"] == "ship"
    assert sent["body"] == {"destination": "dist"}
    assert len(str(sent["entry"])) == 64
    state = one_object(world.acme.run("show", str(shipped["case"]), "--json"))
    assert state["status"] == "in_transit"
    assert state["packs"] == 30


def test_commission_of_a_big_batch_goes_in_several_requests(world: World) -> None:
    world.acme.set_profile()
    made = one_object(world.acme.run(*commission("BIG1", 2500, "--batch", "1000", "--json")))
    assert made["count"] == 2500
    assert isinstance(made["serials"], list)
    assert len(set(made["serials"])) == 2500
    assert isinstance(made["entries"], list)
    assert len(made["entries"]) == 3


def test_commission_prints_the_serials_one_a_line_for_people(world: World) -> None:
    world.acme.set_profile()
    result = world.acme.run(*commission("PPL1", 3))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 3
    assert "commissioned 3 packs" in result.stderr


# -- the distributor -------------------------------------------------------------------------------


def test_distributor_receives_what_was_shipped_and_returns_it(
    world: World, shipped: dict[str, object]
) -> None:
    dist = world.dist
    dist.set_profile()
    case = str(shipped["case"])
    got = one_object(dist.run("receive", case, "--json"))
    sent = shipped["sent"]
    assert isinstance(sent, dict)
    assert got["kind"] == "receive"
    assert got["refs"] == [sent["entry"]]
    assert one_object(dist.run("show", case, "--json"))["custodian"] == "dist/wh"
    back = one_object(dist.run("return", case, "--to", "acme", "--json"))
    assert back["kind"] == "return"
    assert back["body"] == {"destination": "acme"}


def test_receiving_what_was_never_shipped_says_so(world: World) -> None:
    world.dist.set_profile()
    line = one_error_line(world.dist.run("receive", sscc(777)))
    assert "expected https://id.gs1.org/00/" in line
    assert "--ref" in line


# -- recall ----------------------------------------------------------------------------------------


def test_recall_makes_every_pack_of_the_lot_recalled(
    world: World, shipped: dict[str, object]
) -> None:
    acme = world.acme
    acme.set_profile()
    unasked = acme.run("recall", "--gtin", GTIN, "--lot", LOT)
    assert "expected --yes" in one_error_line(unasked)
    done = one_object(acme.run("recall", "--gtin", GTIN, "--lot", LOT, "--yes", "--json"))
    assert done["kind"] == "recall"
    assert done["subjects"] == [f"https://id.gs1.org/01/{GTIN}/10/{LOT}"]
    made = shipped["made"]
    assert isinstance(made, dict)
    pack = one_object(acme.run("show", "--gtin", GTIN, made["serials"][0], "--json"))
    assert pack["effective_status"] == "recalled"


def test_scan_verifies_at_the_profiles_node(world: World, shipped: dict[str, object]) -> None:
    world.acme.set_profile()
    made = shipped["made"]
    assert isinstance(made, dict)
    code = f"(01){GTIN}(17)301231(10){LOT}(21){made['serials'][1]}"
    result = world.acme.run("scan", code, "--json")
    assert "Traceback" not in result.stderr
    answer = json.loads(result.stdout)
    assert answer["verdict"] in ("HOLD", "REJECT")  # in transit, then recalled: never RELEASE
    assert answer["pack"] == pack_uri(GTIN, made["serials"][1])


# -- errors: one line --------------------------------------------------------------------------------


def _refused_step(world: World) -> subprocess.CompletedProcess[str]:
    world.acme.set_profile()
    return world.acme.run("ship", sscc(1), "--to", "dist")  # shipped already


def _bad_token(world: World) -> subprocess.CompletedProcess[str]:
    return medtrace(
        "pull", "--node", world.acme.url, "--ca", str(world.acme.ca), "--token", BAD_TOKEN
    )


def _node_down(world: World) -> subprocess.CompletedProcess[str]:
    return medtrace("pull", "--node", f"http://127.0.0.1:{free_port()}", "--token", BAD_TOKEN)


def _http_to_https(world: World) -> subprocess.CompletedProcess[str]:
    url = world.acme.url.replace("https://", "http://")
    return medtrace("pull", "--node", url, "--token", BAD_TOKEN)


def _no_node(world: World) -> subprocess.CompletedProcess[str]:
    return medtrace(
        "ship", sscc(1), "--to", "dist", env={"MEDTRACE_PROFILE": str(world.root / "none.json")}
    )


def _bad_item(world: World) -> subprocess.CompletedProcess[str]:
    return world.acme.run("ship", "not-a-pack", "--to", "dist")


def _out_exists(world: World) -> subprocess.CompletedProcess[str]:
    world.acme.set_profile()
    kept = world.root / "kept-serials.txt"
    kept.write_text("SERIALS-OF-AN-EARLIER-BATCH\n")
    result = world.acme.run(*commission("OUT1", 1, "--out", str(kept)))
    assert kept.read_text() == "SERIALS-OF-AN-EARLIER-BATCH\n"
    return result


#: case -> (how to provoke it, what the one line says)
ERRORS: dict[str, tuple[Callable[[World], subprocess.CompletedProcess[str]], str]] = {
    "a step the lifecycle refuses": (_refused_step, "the node refused the ship (409 "),
    "a bad token": (_bad_token, "the node refused the token (401"),
    "a node that is down": (_node_down, "nothing answers at"),
    "http:// to an https node": (_http_to_https, "answers HTTPS: use https:// and --ca"),
    "no node and no profile": (_no_node, "expected --node URL"),
    "an item that is no pack": (_bad_item, "expected a pack or container"),
    "a serials file that exists": (_out_exists, "the file exists; choose another --out"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_one_line_never_a_traceback(case: str, world: World) -> None:
    provoke, says = ERRORS[case]
    assert says in one_error_line(provoke(world))


def test_errors_under_json_are_one_object(world: World) -> None:
    result = medtrace(
        "pull", "--node", world.acme.url, "--ca", str(world.acme.ca), "--token", BAD_TOKEN, "--json"
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["status"] == 401
    assert error["type"] == "unauthenticated"
    assert "the node refused the token" in error["message"]


def test_the_profiles_token_goes_to_the_profiles_node_only(world: World) -> None:
    """--node naming another node must not send it the profile's token."""
    world.acme.set_profile()
    result = world.acme.run("pull", "--node", world.dist.url)
    assert "expected --token" in one_error_line(result)


#: step -> (the command's arguments after the pack, the kind it writes, the status it leaves)
A_PACKS_DAY = (
    ("lock", (), "lock", "locked"),
    ("unlock", (), "unlock", "active"),
    ("sample", ("--free",), "sample", "free_sample"),
    ("undo", (), "undo", "active"),
    ("export", (), "export", "exported"),
    ("undo", (), "undo", "active"),
    ("report-stolen", (), "stolen", "stolen"),
)


def test_each_step_on_a_pack_writes_its_kind_and_leaves_its_status(world: World) -> None:
    acme = world.acme
    acme.set_profile()
    made = one_object(acme.run(*commission("DAY1", 1, "--json")))
    assert isinstance(made["serials"], list)
    item = f"(01){GTIN}(17)301231(10)DAY1(21){made['serials'][0]}"
    before: str | None = None
    for command, extra, kind, status in A_PACKS_DAY:
        step = one_object(acme.run(command, item, *extra, "--json"))
        assert step["kind"] == kind, command
        assert step["subjects"] == [pack_uri(GTIN, made["serials"][0])]
        if command == "undo":
            assert step["refs"] == [before]  # the pack's last decommissioning, found by itself
        state = one_object(acme.run("show", item, "--json"))
        assert state["status"] == status, command
        before = str(step["entry"])
