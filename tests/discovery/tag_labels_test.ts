import assert from "node:assert/strict";
import { cleanName, tagsToLabels } from "../../src/discovery/tag_labels.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f]/;

Deno.test("tags -> labels: key/value kept, 'k=v' and 'k:v' split, bare tags as tag/NAME", () => {
  const { labels, notes } = tagsToLabels([
    { key: "env", value: "prod" },
    { key: "role=web" },
    { key: "team:ops" },
    { key: "frontend" },
    { key: "example.com/tier", value: "gold" },
  ]);
  assert.deepEqual(labels, {
    env: "prod",
    role: "web",
    team: "ops",
    "tag/frontend": "",
    "example.com/tier": "gold",
  });
  assert.deepEqual(notes, []);
});

Deno.test("tags -> labels: invalid characters replaced predictably, each change reported", () => {
  const { labels, notes } = tagsToLabels([
    { key: "aws:autoscaling:groupName", value: "web asg" },
    { key: "Cost Center", value: "R&D <1>" },
    { key: "<script>" },
    { key: "\u001b[31m", value: "x" },
    { key: "Team/Name", value: "a" },
    { key: "env", value: "a".repeat(80) },
  ]);
  assert.deepEqual(labels, {
    aws_autoscaling_groupName: "web_asg",
    Cost_Center: "R_D__1",
    "tag/script": "",
    "31m": "x",
    "team/Name": "a",
    env: "a".repeat(63),
  });
  assert.equal(notes.length, 6);
  // Untrusted text in notes is JSON-quoted: no raw control characters reach the terminal.
  assert.ok(notes.every((n) => Object.values(n.params).every((v) => !CONTROL.test(v))));
  assert.deepEqual(notes[0], {
    key: "discovery.note_tag_renamed",
    params: {
      tag: '"aws:autoscaling:groupName=web asg"',
      label: "aws_autoscaling_groupName=web_asg",
    },
  });
});

Deno.test("tags -> labels: nothing usable is dropped; a later duplicate wins and is reported", () => {
  const { labels, notes } = tagsToLabels([
    { key: "!!!" },
    { key: "env", value: "prod" },
    { key: "env", value: "dev" },
  ]);
  assert.deepEqual(labels, { env: "dev" });
  assert.deepEqual(notes.map((n) => n.key), [
    "discovery.note_tag_dropped",
    "discovery.note_label_replaced",
  ]);
});

Deno.test("cleanName: machine-name characters, alphanumeric ends, cut to the limit", () => {
  assert.equal(cleanName("web 1.example.com"), "web_1.example.com");
  assert.equal(cleanName("-._x_-"), "x");
  assert.equal(cleanName("$(rm -rf /)"), "rm_-rf");
  assert.equal(cleanName("a".repeat(100), 64), "a".repeat(64));
  assert.equal(cleanName("ÿ"), "");
});
