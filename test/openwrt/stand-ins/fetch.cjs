// Downloads one http URL to a file for the wget stand-in, failing as uclient-fetch does: an HTTP
// error answer is "HTTP error N" and exit 8, a connection that fails or times out exit 4.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const [url, file, timeoutSeconds] = process.argv.slice(2);
const out = file === '-' ? process.stdout : fs.createWriteStream(file);
const connectionError = (what) => {
  process.stderr.write(`Connection error: ${what}\n`);
  process.exit(4);
};
const request = http.get(url, { timeout: Number(timeoutSeconds || 30) * 1000 }, (response) => {
  if (response.statusCode !== 200) {
    process.stderr.write(`HTTP error ${response.statusCode}\n`);
    response.resume();
    process.exitCode = 8;
    if (file !== '-') out.end();
    return;
  }
  response.pipe(out);
  response.on('aborted', () => { process.stderr.write('Connection reset prematurely\n'); process.exit(4); });
  response.on('error', () => { process.stderr.write('Connection reset prematurely\n'); process.exit(4); });
});
request.on('timeout', () => { request.destroy(); connectionError('Connection timed out'); });
request.on('error', () => connectionError('Connection failed'));
