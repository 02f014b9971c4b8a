#!/usr/bin/env node
// npm's `version` hook: turns CHANGELOG.md's "## [Unreleased]" section into "## [<new version>] - <date>" and
// starts a new, empty Unreleased section above it (keep-a-changelog). Fails when Unreleased is empty.
'use strict';
const fs = require('fs');
const path = require('path');

const file = path.join(__dirname, '..', 'CHANGELOG.md');
const version = process.env.npm_new_version || process.env.npm_package_version || require('../package.json').version;
const text = fs.readFileSync(file, 'utf8');
const heading = '## [Unreleased]';
const at = text.indexOf(heading);
if (at < 0) throw new Error('CHANGELOG.md has no "## [Unreleased]" section');
const next = text.indexOf('\n## [', at + heading.length);
const body = text.slice(at + heading.length, next < 0 ? text.length : next).trim();
if (body === '' || !/^- /m.test(body)) {
  process.stderr.write(`CHANGELOG.md: the Unreleased section is empty; say what ${version} changes first\n`);
  process.exit(1);
}
if (text.includes(`## [${version}]`)) throw new Error(`CHANGELOG.md already has a section for ${version}`);
const date = new Date().toISOString().slice(0, 10);
const out = text.replace(heading, `${heading}\n\n## [${version}] - ${date}`);
fs.writeFileSync(file, out);
process.stdout.write(`CHANGELOG.md: Unreleased is now ${version} (${date})\n`);
