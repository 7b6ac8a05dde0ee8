// modeld's GGUF reader against an independent one: @huggingface/gguf reads the files
// gguf_dump writes (tests/formats/fixtures.h: every value type, nested arrays, v2 and v3,
// a custom alignment, a split model) and must agree with modeld on every key, type and
// value, on the tensor table and the data offset, and on the parameter count.
// MODELD_GGUF_DUMP names the gguf_dump binary (CTest sets it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { gguf, GGUFValueType } from "@huggingface/gguf";

const dump = process.env.MODELD_GGUF_DUMP;
let dir;
let files;

before(() => {
  assert.ok(dump, "MODELD_GGUF_DUMP must name tests/formats' gguf_dump");
  dir = mkdtempSync(join(tmpdir(), "modeld-gguf-crosscheck-"));
  files = execFileSync(dump, ["--write", dir], { encoding: "utf8" }).trim().split("\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

function modeld(args) {
  return JSON.parse(execFileSync(dump, args, { encoding: "utf8", maxBuffer: 64 << 20 }));
}

// A value as gguf_dump prints it: 64-bit integers as decimal strings, non-finite floats
// by name (JSON has neither), arrays element by element.
function normal(v) {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) {
    return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  }
  if (Array.isArray(v)) return v.map(normal);
  return v;
}

async function huggingface(path) {
  return gguf(path, { allowLocalFile: true, typedMetadata: true, computeParametersCount: true });
}

const header = new Set(["version", "tensor_count", "kv_count"]);

test("every key, type and value agrees", async () => {
  const types = new Set();
  for (const path of files) {
    const ours = modeld([path]).files[0];
    const theirs = await huggingface(path);
    assert.equal(theirs.typedMetadata.version.value, ours.version, path);
    assert.equal(String(theirs.typedMetadata.tensor_count.value), ours.tensor_count, path);
    assert.equal(String(theirs.typedMetadata.kv_count.value), ours.kv_count, path);
    const keys = Object.keys(theirs.typedMetadata).filter((k) => !header.has(k));
    assert.deepEqual(keys.sort(), Object.keys(ours.metadata).sort(), path);
    for (const key of keys) {
      const t = theirs.typedMetadata[key];
      const o = ours.metadata[key];
      assert.equal(GGUFValueType[t.type], o.type, `${path} ${key}: type`);
      types.add(o.type);
      if (t.type === GGUFValueType.ARRAY) {
        assert.equal(GGUFValueType[t.subType], o.subType, `${path} ${key}: element type`);
        types.add(o.subType);
      }
      // Object.is underneath: -0 and 0 differ, NaN equals NaN.
      assert.deepStrictEqual(normal(t.value), o.value, `${path} ${key}: value`);
    }
  }
  // The fixtures hold all 13 value types.
  assert.deepEqual([...types].sort(), Object.keys(GGUFValueType).filter((k) => isNaN(k)).sort());
});

test("the tensor table and data offset agree", async () => {
  for (const path of files) {
    const ours = modeld([path]).files[0];
    const theirs = await huggingface(path);
    assert.equal(String(theirs.tensorDataOffset), ours.data_offset, path);
    assert.equal(theirs.tensorInfos.length, ours.tensors.length, path);
    theirs.tensorInfos.forEach((t, i) => {
      assert.deepStrictEqual(
        { name: t.name, n_dims: t.n_dims, shape: t.shape.map(String), dtype: t.dtype, offset: String(t.offset) },
        ours.tensors[i],
        `${path} tensor ${i}`,
      );
    });
  }
});

test("parameter counts agree, a split model summed over its parts", async () => {
  const single = files.find((f) => f.endsWith("all-types-v3.gguf"));
  assert.equal(modeld(["--model", single]).model.parameter_count, (await huggingface(single)).parameterCount);
  const parts = files.filter((f) => /-\d{5}-of-\d{5}\.gguf$/.test(f));
  assert.equal(parts.length, 3);
  let sum = 0;
  for (const part of parts) sum += (await huggingface(part)).parameterCount;
  const model = modeld(["--model", ...parts]).model;
  assert.equal(model.split_count, 3);
  assert.equal(model.parameter_count, sum);
});
