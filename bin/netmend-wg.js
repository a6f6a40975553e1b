#!/usr/bin/env node
// netmend-wg: the mesh engine with wireguard-go's command line (`netmend-wg [-f] IFACE`), for
// wg-quick's WG_QUICK_USERSPACE_IMPLEMENTATION. Loads only the engine, never oclif.
const { main } = await import('../dist/src/mesh/wg-cli.js');
const code = await main(process.argv.slice(2));
// The daemon's handles are closed by now; exit explicitly so nothing left over keeps it alive.
process.exit(code);
