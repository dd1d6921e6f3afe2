// Checks SIEM documents (JSON Lines) against Elastic's own ECS field list,
// the `EcsFlat` table of `@elastic/ecs`: every field name exists in ECS (or
// sits in the hub's custom `hdh.*` namespace), every value has the field's
// type, arrays where ECS normalises to arrays, categorisation values among
// the allowed ones, and each event.type expected for its event.category.
//
//   node check.mjs FILE.jsonl [...]
//
// Ends with one line: RESULT ecs documents=… fields=… violations=…
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

const require = createRequire(import.meta.url);
const { EcsFlat, EcsVersion } = require('@elastic/ecs');

const STRING = new Set(['keyword', 'constant_keyword', 'wildcard', 'text', 'match_only_text', 'flattened']);
const INTEGER = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long']);
const NUMBER = new Set(['float', 'double', 'scaled_float', 'half_float']);

/** Leaves of a document: [dotted name, value]; arrays of scalars are leaves. */
function leaves(value, prefix, out) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
    for (const v of value) leaves(v, prefix, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

function typeProblem(def, v) {
  const t = def.type;
  if (v === null) return 'null (leave the field out instead)';
  if (STRING.has(t)) return typeof v === 'string' ? null : `${JSON.stringify(v)} is not a string (${t})`;
  if (INTEGER.has(t)) return Number.isInteger(v) ? null : `${JSON.stringify(v)} is not an integer (${t})`;
  if (NUMBER.has(t)) return typeof v === 'number' ? null : `${JSON.stringify(v)} is not a number (${t})`;
  if (t === 'boolean') return typeof v === 'boolean' ? null : `${JSON.stringify(v)} is not a boolean`;
  if (t === 'ip') return typeof v === 'string' && isIP(v) ? null : `${JSON.stringify(v)} is not an IP address`;
  if (t === 'date') {
    return typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v))
      ? null : `${JSON.stringify(v)} is not an ISO 8601 date`;
  }
  return null;
}

let documents = 0;
let fields = 0;
const violations = [];
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let doc;
    try { doc = JSON.parse(line); } catch (e) { violations.push(`${where}: not JSON: ${e.message}`); return; }
    documents += 1;
    for (const required of ['@timestamp', 'ecs.version']) {
      if (!leaves(doc, '', []).some(([k]) => k === required)) violations.push(`${where}: no ${required}`);
    }
    for (const [name, value] of leaves(doc, '', [])) {
      fields += 1;
      if (name.startsWith('hdh.')) continue; // the hub's custom namespace
      const def = EcsFlat[name];
      if (!def) { violations.push(`${where}: ${name} is not an ECS ${EcsVersion} field`); continue; }
      const isArray = (def.normalize || []).includes('array');
      if (Array.isArray(value) && !isArray) violations.push(`${where}: ${name} is an array; ECS has one value`);
      if (!Array.isArray(value) && isArray) violations.push(`${where}: ${name} must be an array in ECS`);
      for (const v of Array.isArray(value) ? value : [value]) {
        const p = typeProblem(def, v);
        if (p) violations.push(`${where}: ${name}: ${p}`);
        if (def.allowed_values && !def.allowed_values.some((a) => a.name === v)) {
          violations.push(`${where}: ${name}: ${JSON.stringify(v)} is not an allowed value (${def.allowed_values.map((a) => a.name).join(', ')})`);
        }
      }
    }
    // Each event.type must be expected by each of the document's categories.
    const cats = doc.event?.category ?? [];
    const types = doc.event?.type ?? [];
    for (const c of cats) {
      const allowed = EcsFlat['event.category'].allowed_values.find((a) => a.name === c);
      for (const t of types) {
        if (allowed?.expected_event_types && !allowed.expected_event_types.includes(t)) {
          violations.push(`${where}: event.type ${t} is not expected with event.category ${c} (${allowed.expected_event_types.join(', ')})`);
        }
      }
    }
  });
}
for (const v of violations.slice(0, 50)) console.log(`VIOLATION ${v}`);
if (documents === 0) violations.push('no documents');
console.log(`RESULT ecs version=${EcsVersion} documents=${documents} fields=${fields} violations=${violations.length}`);
process.exit(violations.length === 0 ? 0 : 1);
