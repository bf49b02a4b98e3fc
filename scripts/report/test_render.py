"""Tests of render.py: `python3 -m unittest discover -s scripts/report` (run by scripts/stress.sh)."""

import datetime
import json
import unittest

import render

LINES = [
    json.dumps({"table": "limits", "figure": "20 ms vs none", "result": "640 ms", "baseline": "400 ms",
                "ratio": 0.625, "target": "≥ 0.80", "met": False}),
    "",
    json.dumps({"table": "memory", "figure": "per connection", "result": "7.9 KB", "target": "≤ 16 KB",
                "met": True}),
    json.dumps({"table": "limits", "figure": "quick start | same throttle", "result": "2,677 of 10,000",
                "ratio": 0.0268, "target": "(comparison)"}),
    json.dumps({"table": "artifact", "note": "Not measured in this run."}),
]
COLUMNS = render.parse_columns("figure,result,baseline,ratio,target")


class RenderTest(unittest.TestCase):
    def test_tables_keep_the_order_they_first_appear_in_and_their_rows_order(self):
        tables = render.group(render.read_figures(LINES))
        self.assertEqual(list(tables), ["limits", "memory", "artifact"])
        self.assertEqual([r["figure"] for r in tables["limits"]["rows"]],
                         ["20 ms vs none", "quick start | same throttle"])
        self.assertEqual(tables["artifact"], {"rows": [], "notes": ["Not measured in this run."]})

    def test_cells_show_verdicts_ratios_and_escape_pipes(self):
        text = render.tables_markdown(render.read_figures(LINES), COLUMNS)
        self.assertIn("| 20 ms vs none | 640 ms | 400 ms | 0.62 | ≥ 0.80 — **not met** |", text)
        self.assertIn("| per connection | 7.9 KB | — | — | ≤ 16 KB — met |", text)
        self.assertIn("| quick start \\| same throttle | 2,677 of 10,000 | — | 0.027 | (comparison) |", text)
        self.assertIn("### artifact\n\nNot measured in this run.\n", text)

    def test_columns_can_be_chosen_and_renamed(self):
        columns = render.parse_columns("figure,result,target=pass criterion")
        text = render.table_markdown("run", render.group(render.read_figures(LINES))["memory"], columns)
        self.assertIn("| figure | result | pass criterion |\n|---|---|---|\n", text)
        self.assertIn("| per connection | 7.9 KB | ≤ 16 KB — met |", text)
        with self.assertRaises(ValueError):
            render.parse_columns("figure,colour")

    def test_a_line_that_is_not_a_figure_is_refused(self):
        with self.assertRaises(ValueError):
            render.read_figures(['["limits"]'])
        with self.assertRaises(ValueError):
            render.read_figures(['{"figure": "no table"}'])

    def test_the_header_names_the_run_and_the_template_gets_both_parts(self):
        machine = {"cpu": "AMD EPYC", "cores": 2, "memory": "23.5 GiB", "kernel": "Linux 6.18",
                   "cargo": "cargo 1.95.0", "descriptors": "20,000 (hard limit 20,000)"}
        now = datetime.datetime(2026, 12, 7, 14, 3, tzinfo=datetime.timezone.utc)
        text = render.header("bash scripts/bench.sh", now, now.timestamp() - 431,
                             [("subscribers", "10,000")], machine, "abc1234-dirty")
        self.assertIn("on 2026-12-07 14:03 UTC", text)
        self.assertIn("| commit | `abc1234-dirty` |", text)
        self.assertIn("| CPU | AMD EPYC, 2 cores |", text)
        self.assertIn("| subscribers | 10,000 |", text)
        self.assertIn("| run time | 431 s |", text)
        self.assertEqual(render.render("# T\n{{header}}\n{{tables}}\nprose", "H", "T"), "# T\nH\nT\nprose")
        with self.assertRaises(ValueError):
            render.render("# no placeholders", "H", "T")


if __name__ == "__main__":
    unittest.main()
