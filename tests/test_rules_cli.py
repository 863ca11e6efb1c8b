"""`rules` subcommands: check, explain, diff and bench, driven through `rules_cli.main`."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from dispatch.routing import DEFAULT_RULES_DIR
from dispatch.rules_cli import main

SERANG = Path(__file__).parents[2] / "shared" / "data" / "serang"


def _inside(name: str) -> tuple[float, float]:
    with (SERANG / "kota_serang_kelurahan_points.csv").open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["kelurahan"] == name)
    return float(row["inside_lat"]), float(row["inside_lng"])


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, target)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_check_passes_the_shipped_rules_with_counts_and_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert re.match(r"ok [0-9a-f]{12}: \d+ rules, \d+ categories, 14 agencies", out)
    assert "67 kelurahan, 6 kecamatan" in out


def test_check_catches_a_misspelt_agency_with_its_rule_id(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(rules_copy, "rules.toml", 'primary = ["DINSOS"]', 'primary = ["DINSSO"]')
    assert main(["check", str(rules_copy)]) == 1
    captured = capsys.readouterr()
    assert "rules.toml: gangguan-jiwa-kota: unknown agency 'DINSSO'" in captured.out.splitlines()
    assert "1 problem(s)" in captured.err


def test_check_prints_every_problem_on_its_own_line(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(rules_copy, "rules.toml", 'primary = ["DINSOS"]', 'primary = ["DINSSO"]')
    edit(rules_copy, "categories.toml", "priority = 4", "priority = 9")
    assert main(["check", str(rules_copy)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("categories.toml: mobil_jenazah: priority must be")
    assert lines[1] == "rules.toml: gangguan-jiwa-kota: unknown agency 'DINSSO'"


def test_explain_prints_zone_rule_agencies_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    lat, lon = _inside("Kasemen")
    argv = ["explain", "--lat", str(lat), "--lon", str(lon), "--category", "kebakaran"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "zone:      36.73.02.1001 Kasemen (Kec. Kasemen 36.73.02)" in out
    assert "rule:      kebakaran-kota:" in out
    assert re.search(r"agencies:\s+DAMKAR\s+primary", out)
    assert re.search(r"DMK-03\s+DAMKAR\s+fire_engine\s+from damkar-pos-kasemen: 0 m", out)


def test_explain_reads_a_time_without_offset_as_wib(capsys: pytest.CaptureFixture[str]) -> None:
    lat, lon = _inside("Cipare")
    base = ["explain", "--lat", str(lat), "--lon", str(lon), "--category", "pohon_tumbang"]
    assert main([*base, "--at", "2026-01-05T10:00"]) == 0
    assert "rule:      pohon-tumbang-jam-kerja" in capsys.readouterr().out
    assert main([*base, "--at", "2026-01-05T10:00+00:00"]) == 0  # 17:00 WIB
    assert "rule:      pohon-tumbang:" in capsys.readouterr().out


def test_explain_names_the_handover_for_a_point_outside_the_city(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["explain", "--lat", "-6.05", "--lon", "106.30", "--category", "medis"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "out of area; hand over: Kec. Lebak Wangi, Kabupaten Serang" in out
    assert "rule:      luar-kota-medis" in out


def test_explain_rejects_an_unknown_category_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["explain", "--lat", "-6.12", "--lon", "106.15", "--category", "kebakran"]
    assert main(argv) == 2
    assert "unknown category 'kebakran'" in capsys.readouterr().err


def _write_incidents(path: Path, rows: list[dict[str, object]]) -> None:
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["lat", "lon", "category", "at"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_diff_counts_incidents_that_move_when_a_kelurahan_joins_another_rule(
    rules_copy: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Move Kel. Cipocok Jaya into the coastal flood rule (Basarnas boats as support).
    edit(rules_copy, "rules.toml", 'zones = ["36.73.02"]', 'zones = ["36.73.02", "36.73.05.1001"]')
    at = "2026-01-12T09:00:00+07:00"
    cipocok, serang, kasemen = _inside("Cipocok Jaya"), _inside("Serang"), _inside("Kasemen")
    rows: list[dict[str, object]] = [
        {"lat": cipocok[0], "lon": cipocok[1], "category": "banjir", "at": at},
        {"lat": cipocok[0], "lon": cipocok[1], "category": "banjir", "at": at},
        {"lat": cipocok[0], "lon": cipocok[1], "category": "kebakaran", "at": at},
        {"lat": serang[0], "lon": serang[1], "category": "banjir", "at": at},
        {"lat": kasemen[0], "lon": kasemen[1], "category": "banjir", "at": at},
    ]
    incidents = tmp_path / f"incidents{suffix}"
    _write_incidents(incidents, rows)
    argv = ["diff", str(DEFAULT_RULES_DIR), str(rules_copy), "--incidents", str(incidents)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "5 incidents replayed; 2 would go elsewhere (0 with a different primary agency" in out
    assert re.search(r"^  banjir\s+2 of 4$", out, re.MULTILINE)
    assert re.search(r"^  36\.73\.05\.1001 Cipocok Jaya\s+2 of 3$", out, re.MULTILINE)
    assert "BPBD*+DINSOS+PUPR [banjir-kota] -> BPBD*+DINSOS+BASARNAS+PUPR [banjir-kasemen]" in out


def test_diff_reports_the_line_of_a_malformed_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text('{"lat": -6.12, "lon": 106.15, "category": "medis"}\n')
    argv = ["diff", str(DEFAULT_RULES_DIR), str(DEFAULT_RULES_DIR), "--incidents", str(incidents)]
    assert main(argv) == 2
    assert "incidents.jsonl:1:" in capsys.readouterr().err


def test_bench_prints_lookups_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--n", "2000"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"second pass, with unit advice: 2000 lookups in [\d.]+ s = [\d,]+ lookups/s", out
    )
    assert re.search(r"decision only \(zone, rule, agencies\): 2000 lookups in [\d.]+ s", out)
