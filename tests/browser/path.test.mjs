// End-to-end test of the hub's web pages in a real browser.
//
// Starts `hdh serve --demo` on a fresh data directory, drives Debian's
// Chromium through Playwright and walks the whole path of a study: catalogue,
// access request, review, workspace, output check, download, audit trail.
// Each role acts in its own browser context (its own cookies).
//
// The whole path runs in one language: English by default, French with
// HDH_TEST_LANG=fr (the browser's locale and the sign-in page's choice);
// `npm test` runs it in both.
//
// Env: HDH_BIN (the hub binary, default ../../target/debug/hdh),
//      CHROMIUM (the browser, default /usr/bin/chromium),
//      HDH_TEST_LANG (en | fr, default en).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const HDH_BIN = resolve(here, process.env.HDH_BIN || '../../target/debug/hdh');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LANG = process.env.HDH_TEST_LANG === 'fr' ? 'fr' : 'en';
const LOCALE = LANG === 'fr' ? 'fr-FR' : 'en-GB';
const ARTIFACTS = join(here, 'artifacts', LANG);
// The few words the path reads on the pages, in its language.
const WORDS = {
  en: { home: 'Home', datetime: /^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d\d:\d\d UTC$/, firstJan: '1 Jan 2022' },
  fr: { home: 'Accueil', datetime: /^\d{1,2} (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.) \d{4}, \d\d:\d\d UTC$/, firstJan: '1 janv. 2022' },
}[LANG];
const PASSWORD = 'demo-password';
const OVERALL_TIMEOUT_MS = 420_000;
const STEP_TIMEOUT_MS = 60_000;
const HUB_START_TIMEOUT_MS = 90_000;

const TITLE = 'Résidence et consommation de soins 2022';
const SCOPE = [
  'snds-demo|IR_BEN_R|BEN_NIR_PSA',
  'snds-demo|IR_BEN_R|BEN_SEX_COD',
  'snds-demo|IR_BEN_R|BEN_RES_DPT',
  'snds-demo|ER_PRS_F|BEN_NIR_PSA',
  'snds-demo|ER_PRS_F|EXE_SOI_DTD',
  'snds-demo|ER_PRS_F|PRS_PAI_MNT',
];
const COUNT_SQL =
  'SELECT BEN_RES_DPT, count(*) AS persons FROM IR_BEN_R GROUP BY BEN_RES_DPT ORDER BY BEN_RES_DPT';
// Row-level microdata for a release: the hub counts distinct persons per cell.
const MICRODATA_SQL = 'SELECT BEN_NIR_PSA, BEN_RES_DPT FROM IR_BEN_R';
const TABLE_FILE = 'by_dpt.csv';

// Minutes of work on any data, no memory to speak of.
const SLOW_SQL = 'SELECT COUNT(*) FROM generate_series(1, 5000000000) AS t(v) WHERE v % 7 = 3';

// ---------------------------------------------------------------- the hub

let hub; // ChildProcess
let hubLog = '';
let dataDir;
let baseURL;
let browser;
const contexts = [];
const serverErrors = []; // every 5xx response any page got
const cspViolations = []; // every Content-Security-Policy refusal the browser reported
// Secrets the walk handled (passwords typed, session tokens received): none
// may be found in clear in the data directory or the hub's log (step 10).
const secretsSeen = new Map(); // value → what it is
// Every HTML page a context loaded by GET: context → set of paths with query.
const visited = new Map();

function startHub() {
  if (!existsSync(HDH_BIN)) {
    throw new Error(`hub binary not found at ${HDH_BIN} (build it with \`cargo build -p hdh\` or set HDH_BIN)`);
  }
  dataDir = mkdtempSync(join(tmpdir(), 'hdh-browser-'));
  // Keep the hub on its own fresh SQLite store whatever the caller's environment says.
  const env = { ...process.env };
  for (const k of ['HDH_DATABASE_URL', 'HDH_DATA_DIR', 'HDH_LISTEN', 'HDH_RELEASE_THRESHOLD']) delete env[k];
  hub = spawn(
    HDH_BIN,
    ['serve', '--demo', '--demo-persons', '600', '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the hub did not start in ${HUB_START_TIMEOUT_MS} ms:\n${hubLog}`)),
      HUB_START_TIMEOUT_MS,
    );
    let out = '';
    hub.stdout.on('data', (chunk) => {
      out += chunk;
      hubLog += chunk;
      const m = out.match(/hdh is listening on (http:\/\/[^\s]+?)\/?\s/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    hub.stderr.on('data', (chunk) => {
      hubLog += chunk;
    });
    hub.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    hub.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the hub exited early (code ${code}, signal ${signal}):\n${hubLog}`));
    });
  });
}

function stopHub() {
  if (hub && hub.exitCode === null && hub.signalCode === null) hub.kill('SIGKILL');
}

// Whatever happens (failure, timeout, Ctrl-C), do not leave the hub running.
process.on('exit', stopHub);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopHub();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  });
}
// A hard bound on the whole file, beyond node:test's own timeouts.
const watchdog = setTimeout(() => {
  console.error(`browser test: overall timeout (${OVERALL_TIMEOUT_MS + 30_000} ms) reached, giving up`);
  stopHub();
  process.exit(1);
}, OVERALL_TIMEOUT_MS + 30_000);
watchdog.unref();

// ---------------------------------------------------------------- helpers

async function newPage(options = {}) {
  const context = await browser.newContext({ baseURL, locale: LOCALE, acceptDownloads: true, ...options });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  context.on('response', (r) => {
    if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    const req = r.request();
    if (req.isNavigationRequest() && req.method() === 'GET' && (r.headers()['content-type'] || '').startsWith('text/html')) {
      const u = new URL(r.url());
      visited.get(context).add(u.pathname + u.search);
    }
  });
  // The hub's CSP allows no inline script or style: anything the pages
  // (or their scripts) try inline is refused and reported on the console.
  context.on('console', (msg) => {
    if (msg.type() === 'error' && msg.text().includes('Content Security Policy')) {
      cspViolations.push(`${msg.location().url}: ${msg.text().slice(0, 200)}`);
    }
  });
  visited.set(context, new Set());
  contexts.push(context);
  return context.newPage();
}

let termsShown = false;

/** A fresh browser context signed in as `username`, on the home page (its
 * terms of use accepted at its first sign-in). */
async function signIn(username, options = {}) {
  const page = await newPage(options);
  await page.goto(`/login?lang=${LANG}`);
  await page.fill('#username', username);
  await page.fill('#password', PASSWORD);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/' || u.pathname === '/terms'),
    page.click('main form button[type=submit]'),
  ]);
  for (const c of await page.context().cookies()) {
    if (c.name === 'hdh_session') secretsSeen.set(c.value, `${username}'s session token`);
  }
  if (new URL(page.url()).pathname === '/terms') {
    // First sign-in: the terms of use, read and accepted before anything else.
    await page.locator('#terms-text h2').first().waitFor();
    if (!termsShown) {
      termsShown = true;
      await shot(page, '0-terms-of-use');
    }
    await page.check('#terms-accept');
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('#terms-form button[type=submit]')]);
  }
  // The header shows the sign-out button of a signed-in user.
  await page.locator('header form[action="/logout"] button').waitFor();
  return page;
}

/** The first line of an error page's message (empty when there is none). */
async function errorMessage(page) {
  const el = page.locator('#error-message');
  if ((await el.count()) === 0) return '';
  return (await el.textContent()).split('\n')[0].trim();
}

/** Presses Tab until the focused element matches `selector`. */
async function tabTo(page, selector, max = 1500) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => !!document.activeElement && document.activeElement.matches(sel), selector)) return;
  }
  throw new Error(`${selector} not reached with Tab in ${max} presses at ${page.url()}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function requestState(page) {
  return page.locator('#request-state').getAttribute('data-state');
}

/** Reloads a request's page until its provisioning ends and it is active. */
async function waitForActive(page) {
  for (let i = 0; i < 120; i++) {
    if ((await page.locator('#request-state[data-state="active"]').count()) > 0) return;
    await page.waitForTimeout(500);
    await page.reload();
  }
  await expectRequestState(page, 'active');
}

async function expectRequestState(page, state) {
  try {
    await page.locator(`#request-state[data-state="${state}"]`).waitFor();
  } catch (e) {
    const err = await errorMessage(page);
    const now = (await page.locator('#request-state').count()) ? await requestState(page) : '(none)';
    throw new Error(
      `request state ${state} expected at ${page.url()}; state shown: ${now}${err ? `; error page: ${err}` : ''}`,
      { cause: e },
    );
  }
  assert.equal(await requestState(page), state);
}

async function expectReleaseState(page, state) {
  const el = page.locator('#release-state');
  try {
    await page.locator(`#release-state[data-state="${state}"]`).waitFor();
  } catch (e) {
    const err = await errorMessage(page);
    const formError = (await page.locator('#form-error').count()) ? (await page.locator('#form-error').textContent()).trim() : '';
    const now = (await el.count()) ? await el.getAttribute('data-state') : '(none)';
    throw new Error(
      `release state ${state} expected at ${page.url()}; state shown: ${now}` +
        `${formError ? `; form error: ${formError}` : ''}${err ? `; error page: ${err}` : ''}`,
      { cause: e },
    );
  }
}

/** Clicks the request action `name` in `#actions` (with a reason if given) and waits for the page to come back. */
async function act(page, name, reason) {
  const form = page.locator('#actions form').filter({ has: page.locator(`input[name=action][value="${name}"]`) });
  assert.equal(await form.count(), 1, `action ${name} is offered (offered: ${await offeredActions(page)})`);
  if (reason !== undefined) await form.locator('input[name=reason]').fill(reason);
  await confirmIfAsked(form);
  // The action answers with a redirect to the same URL: wait for the new document's load event.
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/action') && r.request().method() === 'POST'),
    page.waitForEvent('load'),
    form.locator('button[type=submit]').click(),
  ]);
  assert.ok(resp.status() < 400, `action ${name}: HTTP ${resp.status()}`);
}

/** Takes the request action `name` with its fields (inputs, selects, textareas by name). */
async function actWith(page, name, fields) {
  const form = page.locator('#actions form').filter({ has: page.locator(`input[name=action][value="${name}"]`) });
  assert.equal(await form.count(), 1, `action ${name} is offered (offered: ${await offeredActions(page)})`);
  for (const [k, v] of Object.entries(fields)) {
    const el = form.locator(`[name=${k}]`);
    if ((await el.evaluate((x) => x.tagName)) === 'SELECT') await el.selectOption(v);
    else await el.fill(v);
  }
  await confirmIfAsked(form);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/action') && r.request().method() === 'POST'),
    page.waitForEvent('load'),
    form.locator('button[type=submit]').click(),
  ]);
  assert.ok(resp.status() < 400, `action ${name}: HTTP ${resp.status()}`);
}

/**
 * Ticks a form's "I confirm: this cannot be undone" box, after checking
 * that the form cannot be sent without it (the browser's own validation,
 * no script needed).
 */
async function confirmIfAsked(form) {
  const box = form.locator('input[type=checkbox][name=confirm]');
  if ((await box.count()) === 0) return false;
  assert.equal(await form.evaluate((f) => f.checkValidity()), false, 'the form is invalid until confirmed');
  await box.check();
  assert.equal(await form.evaluate((f) => f.checkValidity()), true, 'confirmed, the form can be sent');
  return true;
}

/** The breadcrumb's texts, from the home page to the current one. */
async function crumbs(page) {
  return (await page.locator('main nav.crumbs li').allTextContents()).map((x) => x.trim());
}

async function offeredActions(page) {
  return page.locator('#actions input[name=action]').evaluateAll((xs) => xs.map((x) => x.value));
}

/** Runs `sql` in the project console; returns the response of the POST. */
async function runSql(page, sql) {
  // The console's editor (CodeMirror) stands in for the textarea when
  // scripts run; it writes back to it on submit.
  await page.waitForLoadState('load');
  await page.evaluate((text) => {
    const cm = document.querySelector('.CodeMirror');
    if (cm && cm.CodeMirror) cm.CodeMirror.setValue(text);
    else document.getElementById('sql').value = text;
  }, sql);
  // With scripts the console sends the query in the background and puts the
  // answer in place of the page's content; without, the form navigates.
  // Either way the marker is gone once the answer shows.
  await page.evaluate(() => {
    const m = document.createElement('span');
    m.id = 'stale-marker';
    document.querySelector('main').appendChild(m);
  });
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/query') && r.request().method() === 'POST'),
    page.locator('form[action$="/query"]').first().locator('button[type=submit]').click(),
  ]);
  await page.locator('#stale-marker').waitFor({ state: 'detached' });
  return resp;
}

/** The cells' texts of a table's data rows (the first row holds the headers). */
async function tableRows(locator) {
  return locator.locator('tr').evaluateAll((trs) =>
    trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent.trim())),
  );
}

// ---------------------------------------------------------------- the path

describe('hub web pages in Chromium', { timeout: OVERALL_TIMEOUT_MS }, () => {
  // State carried from one step to the next.
  let requestUrl;
  let projectUrl;
  let releaseUrl;
  let researcher; // the researcher's page, kept across steps
  let failed = false;
  let chainBroken = false;

  /**
   * A step of the path. Steps of the chain (request → project → release)
   * depend on each other: once one fails the later ones are skipped.
   * Independent steps always run.
   */
  function step(name, fn, { chain = true, timeout = STEP_TIMEOUT_MS } = {}) {
    it(name, { timeout }, async (t) => {
      if (chain && chainBroken) {
        t.skip('an earlier step of the path failed');
        return;
      }
      try {
        await fn(t);
      } catch (e) {
        failed = true;
        if (chain) chainBroken = true;
        throw e;
      }
    });
  }

  before(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    baseURL = await startHub();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 60_000,
    });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    if (browser) await browser.close().catch(() => {});
    stopHub();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (failed && hubLog) console.error(`--- hub output ---\n${hubLog.slice(-4000)}`);
  });

  step('1a. anonymous: catalogue and search', async () => {
    const page = await newPage();
    await page.goto(`/catalogue?lang=${LANG}`);
    await page.locator('main table').getByText('snds-demo', { exact: true }).waitFor();
    await shot(page, '1-catalogue');

    await page.fill('main input[name=q]', 'BEN_SEX_COD');
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('q') === 'BEN_SEX_COD'),
      page.click('main form[action="/catalogue"] button[type=submit]'),
    ]);
    const hits = await page.locator('#search-results li').allTextContents();
    assert.ok(
      hits.some((h) => h.includes('IR_BEN_R.BEN_SEX_COD')),
      `IR_BEN_R.BEN_SEX_COD in #search-results: ${JSON.stringify(hits)}`,
    );
    // Facets with counts; a typo and missing accents still find the variable.
    assert.ok((await page.locator('#facets a').count()) > 0, 'facets are shown');
    await shot(page, '1-search');
    await page.goto('/catalogue?q=sexe%20du%20beneficiare');
    const typo = await page.locator('#search-results li').allTextContents();
    assert.ok(typo.some((h) => h.includes('BEN_SEX_COD')), `typo-tolerant search: ${JSON.stringify(typo)}`);
  }, { chain: false });

  step('1b. anonymous: dataset page and table page (ER_PRS_F)', async () => {
    const page = await newPage();
    // Catalogue → dataset → table, by clicking links.
    await page.goto('/catalogue');
    await Promise.all([page.waitForURL('**/catalogue/datasets/snds-demo'), page.locator('main a[href="/catalogue/datasets/snds-demo"]').first().click()]);
    // Statistics computed from the data, and the diagram of the tables.
    await page.locator('#statistics').waitFor();
    assert.ok((await page.locator('figure.diagram svg').count()) === 1, 'the dataset page draws its tables');
    await shot(page, '1-dataset');
    await Promise.all([
      page.waitForURL('**/catalogue/datasets/snds-demo/tables/ER_PRS_F'),
      page.locator('#tables a[href$="/tables/ER_PRS_F"]').click(),
    ]);
    await shot(page, '1-table-ER_PRS_F');
    const status = (await page.evaluate(() => document.title)).trim();
    assert.ok(!/^\d{3} /.test(status), `the table page is not an error page: ${status}: ${await errorMessage(page)}`);
    const vars = await tableRows(page.locator('#variables'));
    const prs = vars.find((cells) => cells[1].startsWith('PRS_NAT_REF'));
    assert.ok(prs, 'PRS_NAT_REF in #variables');
    // Columns: #, variable, type, description, nomenclature, keys, completeness.
    assert.equal(prs[2], 'integer', `the type of PRS_NAT_REF is shown: ${JSON.stringify(prs)}`);
    assert.equal(prs[4], 'IR_NAT_V', `the nomenclature of PRS_NAT_REF is shown: ${JSON.stringify(prs)}`);
    // The variable page draws its distribution from the data.
    await Promise.all([
      page.waitForURL('**/variables/PRS_NAT_REF'),
      page.locator('#variables a[href$="/variables/PRS_NAT_REF"]').click(),
    ]);
    await page.locator('#distribution svg').waitFor();
    await shot(page, '1-variable-PRS_NAT_REF');
    // The breadcrumb says where the page is and leads back up.
    assert.deepEqual(await crumbs(page), [WORDS.home, 'Catalogue', 'snds-demo', 'ER_PRS_F', 'PRS_NAT_REF']);
    assert.equal(await page.locator('main nav.crumbs li[aria-current="page"]').textContent(), 'PRS_NAT_REF');
    // Help on this page: closed at first, a text and the guide of the role that works here.
    const help = page.locator('#page-help');
    assert.equal(await help.locator('p').first().isVisible(), false, 'the page help starts closed');
    await help.locator('summary').click();
    assert.ok((await help.locator('p').first().textContent()).trim().length > 40, 'the page help says something');
    assert.equal(await help.locator('a').getAttribute('href'), '/help#role-researcher');
    await Promise.all([
      page.waitForURL('**/catalogue/datasets/snds-demo'),
      page.locator('main nav.crumbs a[href="/catalogue/datasets/snds-demo"]').click(),
    ]);
    assert.deepEqual(await crumbs(page), [WORDS.home, 'Catalogue', 'snds-demo']);
  }, { chain: false });

  step('1c. anonymous: a wrong password is refused', async () => {
    const page = await newPage();
    await page.goto('/login');
    await page.fill('#username', 'researcher');
    await page.fill('#password', 'not-the-password');
    secretsSeen.set('not-the-password', 'a mistyped password');
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
      page.waitForEvent('load'),
      page.click('main form button[type=submit]'),
    ]);
    assert.equal(resp.status(), 401);
    await page.locator('#login-error').waitFor();
    assert.ok((await page.locator('#login-error').textContent()).trim().length > 0);
    // The username is kept, the password is not.
    assert.equal(await page.inputValue('#username'), 'researcher');
    assert.equal(await page.inputValue('#password'), '');
    await shot(page, '1-login-error');
  }, { chain: false });

  step('1d. producer: delivers a dataset through the web page; a bad file is rejected whole', async () => {
    const page = await signIn('producer');
    const dir = mkdtempSync(join(tmpdir(), 'hdh-delivery-'));
    const schema = JSON.stringify({
      name: 'STAYS',
      title: 'Hospital stays (browser test)',
      fields: [
        { name: 'STAY_ID', type: 'string', constraints: { required: true } },
        { name: 'SEX', type: 'integer', constraints: { enum: [1, 2] } },
        { name: 'DGN_PAL', type: 'string', nomenclature: 'MS_CIM_V' },
        { name: 'ENTRY', type: 'date' },
      ],
      primaryKey: ['STAY_ID'],
    });
    writeFileSync(join(dir, 'STAYS.schema.json'), schema);
    const deliver = async (csv) => {
      writeFileSync(join(dir, 'STAYS.csv'), csv);
      await page.goto('/deliver');
      await page.fill('#dataset_id', 'stays-web');
      await page.setInputFiles('#files', [join(dir, 'STAYS.schema.json'), join(dir, 'STAYS.csv')]);
      const [resp] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/deliver') && r.request().method() === 'POST'),
        page.waitForEvent('load'),
        page.click('main form button[type=submit]'),
      ]);
      await page.locator('#delivery-result').waitFor();
      return resp.status();
    };
    // A code outside the nomenclature on line 3: rejected, with file, line, column, reason.
    assert.equal(await deliver('STAY_ID,SEX,DGN_PAL,ENTRY\nS1,1,E11,2022-03-01\nS2,2,ZZZ9,2022-04-12\n'), 422);
    const errors = await tableRows(page.locator('table.errors'));
    assert.ok(
      errors.some((c) => c[0] === 'STAYS.csv' && c[1] === '3' && c[2] === '3' && c[3] === 'DGN_PAL' && c[4].includes('MS_CIM_V')),
      `the error names file, line, column, field and reason: ${JSON.stringify(errors)}`,
    );
    await shot(page, '1-delivery-rejected');
    // Nothing reached the catalogue.
    assert.equal((await page.request.get('/api/datasets/stays-web')).status(), 404);
    // The corrected file is published as version 1.
    assert.equal(await deliver('STAY_ID,SEX,DGN_PAL,ENTRY\nS1,1,E11,2022-03-01\nS2,2,J189,2022-04-12\n'), 200);
    assert.match(await page.locator('#delivery-result').textContent(), /stays-web v1/);
    await shot(page, '1-delivery-accepted');
    rmSync(dir, { recursive: true, force: true });
  }, { chain: false });

  step('2. researcher: request form (with a validation error), draft, submit', async () => {
    researcher = await signIn('researcher');
    const page = researcher;
    await Promise.all([page.waitForURL('**/requests/new'), page.locator('main a[href="/requests/new"]').first().click()]);
    await page.fill('#title', TITLE);
    await page.fill('#purpose', '');
    await page.fill('#public_interest', 'Mieux connaître le recours aux soins selon le lieu de résidence.');
    await page.fill('#period_start', '2022-01-01');
    await page.fill('#period_end', '2022-12-31');
    await page.fill('#duration_months', '24');
    await page.fill('#summary_public', 'Combien de bénéficiaires par département de résidence ?');
    await page.fill('#organisation', 'CHU de Bordeaux');
    await page.locator('input[name=team_name]').first().fill('Dr Alice Martin');
    await page.locator('input[name=team_role]').first().fill('investigatrice principale');
    await page.fill('#methodology', 'Étude descriptive transversale.');
    await page.fill('#expected_results', 'Un rapport.');
    await page.fill('#funding', 'Aucun');
    await page.fill('#conflicts_of_interest', 'Aucun');
    for (const v of SCOPE) await page.locator(`input[name=cols][value="${v}"]`).check();
    // The running count of what is asked.
    assert.match(await page.locator('#scope-count').textContent(), new RegExp(`${SCOPE.length} variable`));
    await shot(page, '2-request-form');

    // An empty purpose: the form comes back with the error next to the field, the rest kept.
    const [bad] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/requests/new') && r.request().method() === 'POST'),
      page.waitForEvent('load'),
      page.click('main form button[type=submit]'),
    ]);
    assert.equal(bad.status(), 422);
    await page.locator('.field-error:not([hidden])').first().waitFor();
    const purposeError = page.locator('#purpose + .field-error');
    assert.equal(await purposeError.count(), 1, 'a .field-error right after #purpose');
    assert.equal(await page.inputValue('#title'), TITLE, 'title kept');
    assert.equal(await page.inputValue('#period_start'), '2022-01-01', 'period start kept');
    assert.equal(await page.inputValue('#duration_months'), '24', 'duration kept');
    const checked = await page
      .locator('input[name=cols]:checked')
      .evaluateAll((xs) => xs.map((x) => x.value).sort());
    assert.deepEqual(checked, [...SCOPE].sort(), 'ticked columns kept');
    await shot(page, '2-request-form-error');

    await page.fill('#purpose', 'Décrire la répartition des bénéficiaires par département de résidence.');
    await Promise.all([
      page.waitForURL(/\/requests\/[^/]+$/),
      page.click('main form button[type=submit]'),
    ]);
    assert.ok(!page.url().endsWith('/requests/new'), `landed on the request page: ${page.url()}`);
    requestUrl = new URL(page.url()).pathname;
    await expectRequestState(page, 'draft');
    assert.equal((await page.locator('main h1').textContent()).trim(), TITLE);
    const trail = await crumbs(page);
    assert.equal(trail.length, 3, `home › requests › the request: ${JSON.stringify(trail)}`);
    assert.equal(trail[0], WORDS.home);
    assert.equal(trail[2], TITLE);
    // Dates in the reader's language, the instant kept for machines.
    assert.equal((await page.locator('#file time[datetime="2022-01-01"]').textContent()).trim(), WORDS.firstJan);

    // The draft is saved as it is written: edit a field, wait for the
    // autosave, come back: the change is there.
    await Promise.all([page.waitForURL('**/edit'), page.click('#edit-link')]);
    const [saved] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/edit') && r.request().method() === 'POST' && r.request().headers()['x-autosave'] === '1'),
      page.fill('#funding', 'Subvention publique (PREPS)'),
    ]);
    assert.equal(saved.status(), 200);
    await page.goto(requestUrl);
    assert.ok((await page.locator('#file').textContent()).includes('Subvention publique (PREPS)'), 'autosaved');
    await act(page, 'submit');
    await expectRequestState(page, 'submitted');
    const when = page.locator('#history tr td time[datetime]').first();
    assert.match((await when.textContent()).trim(), WORDS.datetime);
    assert.match(await when.getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
  });

  step('3. review: sent back, resubmitted, complete, reviewer assigned and declared, opinion, authorised, agreed → active', async () => {
    const secretariat = await signIn('secretariat');
    // The home page says what waits; its link leads to the review queue.
    await shot(secretariat, '3-home-to-do');
    await Promise.all([
      secretariat.waitForURL('**/requests'),
      secretariat.locator('#todo li[data-todo="todo.reviews"] a').click(),
    ]);
    await Promise.all([
      secretariat.waitForURL(`**${requestUrl}`),
      secretariat.locator(`#to-review a[href="${requestUrl}"]`).click(),
    ]);
    await expectRequestState(secretariat, 'submitted');
    const reason = 'Précisez la base légale du traitement.';
    await act(secretariat, 'send_back', reason);
    await expectRequestState(secretariat, 'sent_back');
    const history = await tableRows(secretariat.locator('#history'));
    assert.ok(
      history.some((cells) => cells.includes(reason)),
      `the reason is in #history: ${JSON.stringify(history)}`,
    );

    // The researcher's home page says a request came back.
    await researcher.goto('/');
    await researcher.locator('#todo li[data-todo="todo.sent_back"]').waitFor();
    await researcher.goto(requestUrl);
    await expectRequestState(researcher, 'sent_back');
    assert.ok((await researcher.locator('#history').textContent()).includes(reason));
    await act(researcher, 'submit');
    await expectRequestState(researcher, 'submitted');

    await secretariat.goto(requestUrl);
    await act(secretariat, 'approve');
    await expectRequestState(secretariat, 'ethics_review');

    // The secretariat assigns a reviewer; the reviewer declares their
    // interests before the file opens; then gives a motivated opinion.
    await Promise.all([
      secretariat.waitForEvent('load'),
      secretariat.locator('#assign-form button[type=submit]').click(),
    ]);
    assert.ok((await secretariat.locator('#reviewers + table').textContent()).includes('CESREES'));
    const committee = await signIn('committee');
    await committee.goto(requestUrl);
    await committee.locator('#declare-form').waitFor();
    assert.equal(await committee.locator('#file').count(), 0, 'no file before the declaration');
    await Promise.all([
      committee.waitForEvent('load'),
      committee.locator('#declare-form button[type=submit]').click(),
    ]);
    await expectRequestState(committee, 'ethics_review');
    await actWith(committee, 'opinion', { opinion: 'favourable_with_reservations', reason: 'Projet proportionné ; justifier la durée.' });
    await expectRequestState(committee, 'authority_review');

    const authority = await signIn('authority');
    await authority.goto(requestUrl);
    await actWith(authority, 'authorise', { reference: 'DR-2026-042' });
    await expectRequestState(authority, 'producer_agreement');

    const producer = await signIn('producer');
    await producer.goto(requestUrl);
    await actWith(producer, 'agree', { dataset: 'snds-demo' });
    // The workspace is built in the background: the request shows its
    // provisioning, then becomes active.
    await waitForActive(producer);
    await authority.goto(requestUrl);
    await expectRequestState(authority, 'active');
    await authority.locator('#project-link').waitFor();
    await shot(authority, '3-request-active');

    await researcher.goto(requestUrl);
    await expectRequestState(researcher, 'active');
    projectUrl = await researcher.locator('#project-link').getAttribute('href');
    assert.match(projectUrl, /^\/projects\/[^/]+$/);
  });

  step('4. researcher: console, out-of-scope query, cancelled query, draft release checked cell by cell, submitted', async () => {
    const page = researcher;
    await Promise.all([page.waitForURL(`**${projectUrl}`), page.click('#project-link')]);
    const extraction = await tableRows(page.locator('#extraction'));
    assert.deepEqual(extraction.map((c) => c[0]).sort(), ['ER_PRS_F', 'IR_BEN_R']);
    // The extraction's report: rows per table, persons, period covered.
    await page.locator('#extraction-summary').waitFor();
    // The editor (CodeMirror, vendored) replaces the textarea.
    await page.locator('.CodeMirror').waitFor();

    let resp = await runSql(page, COUNT_SQL);
    assert.equal(resp.status(), 200);
    await page.locator('#result').waitFor();
    const rows = await tableRows(page.locator('#result'));
    assert.ok(rows.length > 1, `#result has rows (${rows.length})`);
    const headers = await page.locator('#result th').allTextContents();
    assert.deepEqual(headers, ['BEN_RES_DPT', 'persons']);
    await shot(page, '4-console-result');

    resp = await runSql(page, 'SELECT * FROM ER_PHA_F');
    assert.equal(resp.status(), 403);
    await page.locator('#query-error').waitFor();
    const err = await page.locator('#query-error').textContent();
    assert.match(err, /scope/i, `#query-error mentions the scope: ${err}`);
    assert.equal(await page.locator('#result').count(), 0);
    // The query stays in the console for the researcher to fix.
    assert.equal(await page.inputValue('#sql'), 'SELECT * FROM ER_PHA_F');
    await shot(page, '4-console-out-of-scope');

    // A query that would run for minutes: the page stays live while it runs,
    // the cancel button stops it and the console says so.
    await page.evaluate((text) => {
      const cm = document.querySelector('.CodeMirror');
      if (cm && cm.CodeMirror) cm.CodeMirror.setValue(text);
      else document.getElementById('sql').value = text;
    }, SLOW_SQL);
    let answered = false;
    const slow = page
      .waitForResponse((r) => r.url().endsWith('/query') && r.request().method() === 'POST', { timeout: 120_000 })
      .then((r) => {
        answered = true;
        return r;
      });
    await page.click('#run');
    await page.locator('#cancel').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#run').isDisabled(), 'Run is disabled while a query runs');
    // The query may not have started when the first click lands: the hub
    // answers 404 to a cancel of a query it does not know yet; click again.
    let cancelled = 0;
    for (let i = 0; i < 60 && !answered; i++) {
      const [c] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/cancel') && r.request().method() === 'POST'),
        page.click('#cancel'),
      ]);
      if (c.status() === 204) {
        cancelled += 1;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(cancelled, 1, 'the hub accepted the cancel');
    resp = await slow;
    assert.equal(resp.status(), 409);
    await page.locator('#query-error').waitFor();
    const why = await page.locator('#query-error').textContent();
    assert.match(why, /cancel|annul/i, `#query-error says the query was cancelled: ${why}`);
    assert.equal(await page.inputValue('#sql'), SLOW_SQL);

    // A release request: a draft whose first table the hub computes from
    // the console's row-level query, used as microdata (distinct persons per
    // département). The disclosure rules are applied cell by cell.
    resp = await runSql(page, MICRODATA_SQL);
    assert.equal(resp.status(), 200);
    const form = page.locator('#release-form');
    await form.waitFor();
    assert.equal(await form.locator('input[name=sql]').inputValue(), MICRODATA_SQL, "the console's query goes with the form");
    await form.locator('[name=description]').fill('Bénéficiaires par département de résidence');
    await form.locator('[name=name]').fill(TABLE_FILE);
    await form.locator('[name=table_description]').fill('Nombre de bénéficiaires distincts par département de résidence, 2022');
    await form.locator('[name=rows]').fill('BEN_RES_DPT');
    await form.locator('[name=cols]').fill('');
    await form.locator('[name=agg]').selectOption('count');
    await form.locator('[name=totals]').check();
    await Promise.all([
      page.waitForURL(/\/releases\/[^/#]+$/),
      form.locator('button[type=submit]').click(),
    ]);
    releaseUrl = new URL(page.url()).pathname;
    await expectReleaseState(page, 'draft');
    const table = page.locator(`section[id="file-${TABLE_FILE}"]`);
    await table.waitFor();
    const cells = page.locator(`table[id="cells-${TABLE_FILE}"]`);
    const primary = cells.locator('td[data-outcome="primary"]');
    assert.ok((await primary.count()) > 0, 'some cells fail a rule (a département under 10 persons)');
    for (const text of await primary.allTextContents()) {
      assert.ok(text.trim().startsWith('*'), `a suppressed cell shows *: ${JSON.stringify(text)}`);
    }
    assert.ok((await cells.locator('td[data-outcome="ok"]').count()) > 0, 'some cells pass');
    // The legend counts the cells of each verdict, the same as the grid.
    const legend = page.locator(`[id="legend-${TABLE_FILE}"]`);
    assert.equal(
      Number((await legend.locator('[data-outcome="primary"] strong').textContent()).trim()),
      await primary.count(),
      'the legend counts the suppressed cells',
    );
    assert.equal(await page.locator('a.download').count(), 0, 'no download before the release');
    await shot(page, '4-release-draft');

    // A README goes with the table.
    await page.locator('#add-text summary').click();
    const text = page.locator('#add-text form');
    await text.locator('[name=name]').fill('README.md');
    await text.locator('[name=description]').fill('Notes de lecture du tableau');
    await text.locator('[name=content]').fill('Effectifs de bénéficiaires distincts ; * : cellule masquée (secret statistique).');
    await Promise.all([page.waitForEvent('load'), text.locator('button[type=submit]').click()]);
    await page.locator('section[id="file-README.md"]').waitFor();
    await expectReleaseState(page, 'draft');

    await Promise.all([page.waitForEvent('load'), page.click('#submit-release')]);
    await expectReleaseState(page, 'submitted');
    assert.equal(await page.locator('#submit-release').count(), 0, 'no submit button once submitted');
    await shot(page, '4-release-submitted');
  });

  step('5. researcher2 (not a member) is refused the project and its release', async () => {
    const page = await signIn('researcher2');
    const resp = await page.goto(projectUrl);
    assert.equal(resp.status(), 403);
    await page.locator('#error-message').waitFor();
    assert.equal(await page.locator('#sql').count(), 0, 'no console on the error page');
    await shot(page, '5-researcher2-forbidden');
    const rel = await page.goto(releaseUrl);
    assert.equal(rel.status(), 403, 'the release page is refused too');
    assert.equal(await page.locator('#release-state').count(), 0, 'nothing of the release on the error page');
    const file = await page.request.get(`${releaseUrl}/files/${TABLE_FILE}/preview`);
    assert.equal(file.status(), 403, 'and so is its file');
  });

  step('6. two checkers approve every file, the release goes out; the researcher downloads the CSV', async () => {
    /** A checker finds the release in the queue and approves every file. */
    const review = async (who) => {
      const checker = await signIn(who);
      await Promise.all([
        checker.waitForURL('**/releases'),
        checker.locator('#todo li[data-todo="todo.releases"] a').click(),
      ]);
      await Promise.all([
        checker.waitForURL(`**${releaseUrl}`),
        checker.locator(`#queue a[href="${releaseUrl}"]`).click(),
      ]);
      const form = checker.locator('form#review');
      await form.waitFor();
      const approves = form.locator('input[type=radio][value=approve]');
      assert.equal(await approves.count(), 2, 'one decision per file (the table and the README)');
      if (who === 'checker') await shot(checker, '6-release-review');
      for (const radio of await approves.all()) await radio.check();
      await Promise.all([checker.waitForEvent('load'), form.locator('button[type=submit]').click()]);
      return checker;
    };

    const first = await review('checker');
    await expectReleaseState(first, 'partially_reviewed');
    assert.equal((await first.locator('#approvals').textContent()).trim(), '1');
    assert.equal(await first.locator('form#release-now').count(), 0, 'no release with one approval');

    const second = await review('checker2');
    await expectReleaseState(second, 'reviewed');
    assert.equal((await second.locator('#approvals').textContent()).trim(), '2');
    // Releasing cannot be undone: the hub refuses it without the ticked box
    // (the form's own check aside), and says why on the page.
    const csrf = await second.locator('form#release-now input[name=csrf]').inputValue();
    const bare = await second.request.post(`${releaseUrl}/release`, { form: { csrf } });
    assert.equal(bare.status(), 422, 'a release without its confirmation is refused');
    assert.match(await bare.text(), /confirm/);
    await second.reload();
    await expectReleaseState(second, 'reviewed');
    assert.ok(await confirmIfAsked(second.locator('form#release-now')), 'the release form asks for a confirmation');
    await Promise.all([second.waitForEvent('load'), second.locator('form#release-now button[type=submit]').click()]);
    await expectReleaseState(second, 'released');
    assert.equal(await second.locator('a.download').count(), 0, 'a checker does not download');

    const page = researcher;
    await page.goto(releaseUrl);
    await expectReleaseState(page, 'released');
    const link = page.locator(`section[id="file-${TABLE_FILE}"] a.download`);
    await link.waitFor();
    await shot(page, '6-release-released');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), TABLE_FILE);
    const path = await download.path();
    const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
    assert.equal(lines[0], 'BEN_RES_DPT,count');
    assert.ok(lines.length > 2, `the CSV has data rows (${lines.length - 1})`);
    let stars = 0;
    for (const line of lines.slice(1)) {
      const count = line.slice(line.lastIndexOf(',') + 1).trim();
      if (count === '*') {
        stars += 1;
        continue;
      }
      assert.match(count, /^\d+$/, `a count or *: ${JSON.stringify(line)}`);
      assert.ok(Number(count) >= 10, `no count below 10: ${JSON.stringify(line)}`);
    }
    assert.ok(stars > 0, 'some cells are suppressed (*)');
  });

  step('6b. without JavaScript: search, the request page, its help and the console still work', async () => {
    const page = await signIn('researcher', { javaScriptEnabled: false });
    await page.goto('/catalogue?q=BEN_SEX_COD');
    assert.ok((await page.locator('#search-results li').count()) > 0, 'search results without scripts');
    await page.goto(requestUrl);
    await expectRequestState(page, 'active');
    // <details> opens without scripts.
    await page.locator('#page-help summary').click();
    assert.ok(await page.locator('#page-help p').first().isVisible(), 'the page help opens');
    // The console is a plain form: the query goes by navigation and the
    // answer is a page with the result.
    await page.goto(projectUrl);
    assert.equal(await page.locator('.CodeMirror').count(), 0, 'no editor without scripts');
    const resp = await runSql(page, COUNT_SQL);
    assert.equal(resp.status(), 200);
    assert.ok((await tableRows(page.locator('#result'))).length > 1, 'the result without scripts');
    // The release's verdict, drawn and counted, without scripts.
    await page.goto(releaseUrl);
    await expectReleaseState(page, 'released');
    assert.equal(await page.locator(`[id="legend-${TABLE_FILE}"] [data-outcome="primary"]`).count(), 1);
    await shot(page, '6b-no-javascript');
  });

  step('6c. anonymous: the public registry lists the project, its public page, the desk\'s delays drawn', async () => {
    const page = await newPage();
    await page.goto('/registry');
    const id = requestUrl.split('/').pop();
    const row = page.locator(`#registry tr[id="${id}"]`);
    await row.waitFor();
    assert.ok((await row.textContent()).includes(TITLE), 'the project is in the registry');
    // Its dates in the reader's language.
    assert.equal((await row.locator('time[datetime="2022-01-01"]').textContent()).trim(), WORDS.firstJan);
    await Promise.all([page.waitForURL(`**/registry/${id}`), row.locator(`a[href="/registry/${id}"]`).click()]);
    assert.equal(await page.locator('#registry-status').getAttribute('data-state'), 'active');
    assert.equal((await crumbs(page)).length, 3, 'home › registry › the project');
    // Nothing of the file that is not public: no applicant's username, no history.
    assert.equal(await page.locator('#history').count(), 0);
    // The desk's delays per step: drawn, with the table behind the drawing.
    await page.goto('/desk/statistics');
    assert.ok((await page.locator('figure.chart svg').count()) >= 2, 'delays drawn');
    assert.ok((await tableRows(page.locator('#delays'))).length >= 3, 'the delays as a table');
    await shot(page, '6c-desk-statistics');
  });

  step('7. security officer: audit trail and its filter', async () => {
    const page = await signIn('security');
    await Promise.all([page.waitForURL('**/audit'), page.click('header a[href="/audit"]')]);
    const events = await tableRows(page.locator('#audit-events'));
    const actions = new Set(events.map((c) => c[4]));
    for (const a of [
      'request.submit',
      'request.send_back',
      'workspace.provision',
      'workspace.query',
      'release.create',
      'release.file.add',
      'release.submit',
      'release.review',
      'release.release',
      'release.download',
    ]) {
      assert.ok(actions.has(a), `${a} in #audit-events (have: ${[...actions].sort().join(', ')})`);
    }
    assert.ok(
      events.some((c) => c[4] === 'workspace.query' && c[7] === 'denied'),
      'a denied workspace.query',
    );
    assert.ok(
      events.some((c) => c[2] === 'researcher2' && c[7] === 'denied'),
      "researcher2's refused visit of the project is in the trail",
    );
    await shot(page, '7-audit');

    await page.fill('#action', 'release.');
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('action') === 'release.'),
      page.click('main form[action="/audit"] button[type=submit]'),
    ]);
    assert.equal(await page.inputValue('#action'), 'release.', 'the filter stays in the form');
    const filtered = await tableRows(page.locator('#audit-events'));
    assert.ok(filtered.length >= 7, `release events listed (${filtered.length})`);
    for (const c of filtered) assert.ok(c[4].startsWith('release.'), `only release events: ${c[4]}`);
    await shot(page, '7-audit-filtered');
  });

  step('7b. security officer: the alerts, one acknowledged', async () => {
    const page = await signIn('security');
    await page.goto('/audit');
    await Promise.all([page.waitForURL('**/alerts'), page.click('#alerts-link')]);
    // The rules read the log every two seconds; the seeding's key and
    // account operations raise alerts of the admin-and-keys rule.
    let open = 0;
    for (let i = 0; i < 30 && open === 0; i += 1) {
      open = await page.locator('#alerts tr[data-state="open"]').count();
      if (open === 0) {
        await page.waitForTimeout(500);
        await page.reload();
      }
    }
    assert.ok(open > 0, 'open alerts listed');
    const row = page.locator('#alerts tr[data-state="open"]').first();
    const id = await row.getAttribute('id');
    await shot(page, '7b-alerts');
    await Promise.all([
      page.waitForEvent('load'),
      row.locator('form:has(input[name=action][value=acknowledge]) button').click(),
    ]);
    assert.equal(
      await page.locator(`[id="${id}"]`).getAttribute('data-state'),
      'acknowledged',
      `${id} acknowledged: ${await errorMessage(page)}`,
    );
    // Alerts over time: drawn, with the numbers behind the drawing.
    assert.equal(await page.locator('#alerts-per-day svg').count(), 1, 'alerts per day drawn');
    const perDay = await tableRows(page.locator('#alerts-per-day-table'));
    const total = perDay.reduce((n, c) => n + Number(c[1]) + Number(c[2]) + Number(c[3]), 0);
    assert.equal(total, await page.locator('#alerts tr[data-state]').count(), `the table counts every alert listed: ${JSON.stringify(perDay)}`);
    // Closing an alert cannot be undone: a note and a confirmation.
    const close = page.locator(`[id="${id}"] form:has(input[name=action][value=close])`);
    await close.locator('input[name=note]').fill('Opérations de mise en service, attendues.');
    assert.ok(await confirmIfAsked(close), 'closing asks for a confirmation');
    await Promise.all([page.waitForEvent('load'), close.locator('button[type=submit]').click()]);
    assert.equal(await page.locator(`[id="${id}"]`).getAttribute('data-state'), 'closed', `${id} closed: ${await errorMessage(page)}`);
  }, { chain: false });

  step('7c. account: sessions listed and ended, a weak password refused at its field; the administrator\'s yearly review', async () => {
    const first = await signIn('checker2');
    const page = await signIn('checker2');
    await Promise.all([page.waitForURL('**/account'), page.click('#nav-account')]);
    assert.ok((await page.locator('#session-list tr[data-session]').count()) >= 2, 'both sessions listed');
    assert.equal(await page.locator('#session-list tr.current').count(), 1, 'this session marked');
    // Ending the other sessions (a confirmation first) signs the other browser out.
    const endAll = page.locator('form#end-all');
    assert.ok(await confirmIfAsked(endAll), 'ending every session asks for a confirmation');
    await Promise.all([page.waitForEvent('load'), endAll.locator('button[type=submit]').click()]);
    assert.equal(await page.locator('#session-list tr[data-session]').count(), 1, `one session left: ${await errorMessage(page)}`);
    await first.goto('/');
    assert.equal(await first.locator('header form[action="/logout"]').count(), 0, 'the other browser is signed out');
    // A common password: refused, said next to the field, nothing changed.
    await page.fill('#current_password', PASSWORD);
    await page.fill('#new_password', '1qaz2wsx3edc');
    await page.fill('#repeat_password', '1qaz2wsx3edc');
    await Promise.all([page.waitForEvent('load'), page.click('#password-form button[type=submit]')]);
    assert.equal(await page.getAttribute('#new_password', 'aria-invalid'), 'true');
    assert.match(await page.locator('#password-error').textContent(), /20 000/);
    await shot(page, '7c-account');
    // A strong one: changed (and the hub never keeps it in clear).
    const strong = `violet staple orbit ${LANG} lantern`;
    secretsSeen.set(strong, "checker2's new password");
    await page.fill('#current_password', PASSWORD);
    await page.fill('#new_password', strong);
    await page.fill('#repeat_password', strong);
    await Promise.all([page.waitForEvent('load'), page.click('#password-form button[type=submit]')]);
    await page.locator('#password-changed').waitFor();
    // The administrator's list of accounts and their yearly review.
    const admin = await signIn('admin');
    await Promise.all([admin.waitForURL('**/admin/accounts'), admin.click('#nav-accounts')]);
    assert.equal(await admin.locator('#accounts tr[data-account="researcher"]').count(), 1);
    assert.equal(await admin.locator('#accounts tr[data-account="researcher"] [data-state="active"]').count(), 1);
    await shot(admin, '7c-accounts');
  }, { chain: false });

  step('8. French pages', async () => {
    const page = await newPage();
    await page.goto('/catalogue?lang=fr');
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    assert.equal((await page.locator('main h1').textContent()).trim(), 'Catalogue');
    assert.equal((await page.locator('main form[action="/catalogue"] button').textContent()).trim(), 'Rechercher');
    await shot(page, '8-catalogue-fr');
    // The cookie remembers the language.
    await page.goto('/catalogue');
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    assert.equal((await page.locator('main form[action="/catalogue"] button').textContent()).trim(), 'Rechercher');
  }, { chain: false });

  step('8b. help: how it works and a guide per role, in English and in French', async () => {
    const page = await newPage();
    await page.goto('/help?lang=en');
    assert.equal((await page.locator('main h1').textContent()).trim(), 'How it works');
    assert.equal(await page.locator('#project-path li').count(), 10, 'ten steps from request to results');
    assert.equal(await page.locator('section[id^="role-"]').count(), 8, 'a guide per role');
    await page.goto('/help?lang=fr');
    assert.equal((await page.locator('main h1').textContent()).trim(), 'Comment ça marche');
    await shot(page, '8b-help-fr');
    // Signed in, the header's help link leads to the caller's own role.
    const checker = await signIn('checker');
    await Promise.all([checker.waitForURL((u) => u.pathname === '/help'), checker.click('#nav-help')]);
    assert.equal(new URL(checker.url()).hash, '#role-checker');
    assert.equal(await checker.locator('#role-checker.mine').count(), 1, 'the checker\'s guide is marked');
  }, { chain: false });

  step('2k. researcher with the keyboard alone: sign in, a request written, saved and submitted', async () => {
    const page = await newPage();
    await page.goto(`/login?lang=${LANG}`);
    // The first stop is the skip link; it leads to the content.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip', 'the first Tab stop is the skip link');
    await page.keyboard.press('Enter');
    assert.ok(page.url().endsWith('#main'), page.url());
    await tabTo(page, '#username');
    await page.keyboard.type('researcher');
    await tabTo(page, '#password');
    await page.keyboard.type(PASSWORD);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/' || u.pathname === '/terms'),
      page.keyboard.press('Enter'),
    ]);
    if (new URL(page.url()).pathname === '/terms') {
      // The terms of use (when this step runs before the researcher's first
      // sign-in): ticked and accepted with the keyboard too.
      await tabTo(page, '#terms-accept');
      await page.keyboard.press('Space');
      await tabTo(page, '#terms-form button[type=submit]');
      await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.keyboard.press('Enter')]);
    }
    await tabTo(page, 'main a[href="/requests/new"]');
    await Promise.all([page.waitForURL('**/requests/new'), page.keyboard.press('Enter')]);
    const type = async (selector, text) => {
      await tabTo(page, selector);
      await page.keyboard.type(text);
    };
    await type('#title', 'Recours aux soins, au clavier');
    await type('#purpose', 'Décrire le recours aux soins par département.');
    await type('#public_interest', 'Mieux connaître le recours aux soins.');
    await type('#period_start', '01012022');
    // (Chromium's date field takes the digits in its display order, month
    // first here: a date that reads the same either way.)
    await type('#period_end', '12122022');
    await type('#duration_months', '12');
    await type('#summary_public', 'Combien de soins par département ?');
    await type('#organisation', 'CHU de Lille');
    await type('input[name=team_name]', 'Dr Paul Durand');
    await type('input[name=team_role]', 'investigateur');
    await type('#methodology', 'Étude descriptive.');
    await type('#expected_results', 'Un rapport.');
    await type('#funding', 'Aucun');
    await type('#conflicts_of_interest', 'Aucun');
    for (const v of SCOPE.slice(0, 3)) {
      await tabTo(page, `input[name=cols][value="${v}"]`);
      await page.keyboard.press('Space');
    }
    assert.match(await page.locator('#scope-count').textContent(), /3 variable/);
    await tabTo(page, 'main form button.primary[type=submit]');
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    const errors = await page.locator('.field-error:not([hidden])').evaluateAll((xs) =>
      xs.map((x) => `${x.previousElementSibling ? x.previousElementSibling.id : '?'}: ${x.textContent.trim()}`).filter((x) => !x.endsWith(': ')),
    );
    assert.deepEqual(errors, [], `the form by keyboard has no error (at ${page.url()})`);
    await expectRequestState(page, 'draft');
    await tabTo(page, '#actions form:has(input[name=action][value=submit]) button[type=submit]');
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    await expectRequestState(page, 'submitted');
    await shot(page, '2k-keyboard-submitted');
  }, { chain: false });

  // axe-core, injected in each page every context visited (its own
  // cookies: what that user saw), WCAG 2.1 A and AA rules.
  step('10. accessibility: no serious or critical axe-core violation on any page visited', async () => {
    const axe = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    const found = [];
    let scanned = 0;
    for (const context of [...contexts]) {
      const urls = [...visited.get(context)];
      if (urls.length === 0) continue;
      // The same user (cookies) in a context that lets the test inject
      // axe-core past the hub's Content-Security-Policy.
      const scan = await browser.newContext({ baseURL, storageState: await context.storageState(), bypassCSP: true });
      scan.setDefaultTimeout(15_000);
      const page = await scan.newPage();
      // Each page in both languages.
      // (The French run scans its pages in French only: the English run
      // scans both.)
      const both = urls.flatMap((u) => (LANG === 'en' ? ['en', 'fr'] : ['fr']).map((l) => {
        const x = new URL(u, baseURL);
        x.searchParams.set('lang', l);
        return x.pathname + x.search;
      }));
      for (const url of both) {
        const resp = await page.goto(url);
        if (!resp || !(resp.headers()['content-type'] || '').startsWith('text/html')) continue;
        await page.addScriptTag({ content: axe });
        const result = await page.evaluate(() =>
          window.axe.run(document, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
            resultTypes: ['violations'],
          }),
        );
        scanned += 1;
        for (const v of result.violations) {
          if (v.impact !== 'serious' && v.impact !== 'critical') continue;
          found.push(`${url}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
        }
      }
      await scan.close();
    }
    assert.ok(scanned >= (LANG === 'en' ? 30 : 15), `pages scanned: ${scanned}`);
    assert.deepEqual([...new Set(found)], [], 'serious or critical accessibility violations');
  }, { chain: false, timeout: 200_000 });

  step('11. no page asked for a text missing in either language', async () => {
    const missing = [...new Set(hubLog
      .split('\n')
      .map((l) => l.replace(/\x1B\[[0-9;]*m/g, ''))
      .filter((l) => l.includes('missing translation'))
      .map((l) => l.replace(/.*key=/, '')))];
    assert.deepEqual(missing, [], 'keys without a translation (the hub\'s log)');
  }, { chain: false });

  step('9. no page answered with a server error, nor broke its security policy', async () => {
    assert.deepEqual(serverErrors, [], 'responses with a 5xx status');
    assert.deepEqual(cspViolations, [], 'inline styles or scripts refused by the CSP');
  }, { chain: false });

  step('12. after the walk, no secret in clear in the data directory, its database or the hub\'s log', async () => {
    const files = [];
    const walk = (dir) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(dataDir);
    // The hub's own keys (hub secret, audit signing key, level-2 keys) live
    // in secrets/ and nowhere else.
    const secrets = new Map(secretsSeen);
    const keyFiles = files.filter((f) => f.startsWith(join(dataDir, 'secrets')));
    assert.ok(keyFiles.length >= 2, `key files: ${keyFiles}`);
    for (const f of keyFiles) {
      const text = readFileSync(f, 'utf8').trim();
      if (text.length >= 16) secrets.set(text, `the key in ${f.slice(dataDir.length + 1)}`);
    }
    // The demo password, published and printed by `serve --demo` at start,
    // may be in its console output; it must not be in the store.
    secrets.set(PASSWORD, 'the demo password');
    assert.ok(secrets.size >= 10, `secrets to look for: ${[...secrets.values()]}`);
    const found = [];
    for (const f of files) {
      if (keyFiles.includes(f)) continue;
      const bytes = readFileSync(f);
      for (const [value, what] of secrets) {
        if (bytes.includes(Buffer.from(value))) found.push(`${what} in ${f.slice(dataDir.length + 1)}`);
      }
    }
    const log = hubLog.replace(`password for all: ${PASSWORD}`, '');
    for (const [value, what] of secrets) {
      if (log.includes(value)) found.push(`${what} in the hub's log`);
    }
    assert.deepEqual(found, [], `secrets in clear among ${files.length} files and the log`);
  }, { chain: false });
});
