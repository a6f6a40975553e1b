// Downloads one http URL to a file for the wget stand-in; exit 1 on any error or non-200.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const [url, file, timeoutSeconds] = process.argv.slice(2);
const out = file === '-' ? process.stdout : fs.createWriteStream(file);
const request = http.get(url, { timeout: Number(timeoutSeconds || 30) * 1000 }, (response) => {
  if (response.statusCode !== 200) {
    process.stderr.write(`wget: server returned error: HTTP/1.1 ${response.statusCode}\n`);
    response.resume();
    process.exitCode = 1;
    if (file !== '-') out.end();
    return;
  }
  response.pipe(out);
  response.on('aborted', () => { process.stderr.write('wget: connection closed prematurely\n'); process.exit(1); });
  response.on('error', () => { process.stderr.write('wget: connection closed prematurely\n'); process.exit(1); });
});
request.on('timeout', () => { request.destroy(new Error('download timed out')); });
request.on('error', (error) => {
  process.stderr.write(`wget: can't connect to remote host: ${error.message}\n`);
  process.exit(1);
});
